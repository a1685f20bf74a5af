#!/usr/bin/env bash
# Ensure a Docker engine answers on the default socket.
#
# No systemd on these machines: if `docker info` fails we start /usr/sbin/dockerd ourselves, with no
# flags (overlay2, cgroupfs, docker0 and 127.0.0.1 port publishing all work that way), detached from
# this shell and logging to /var/log/helios-dockerd.log, and poll until it answers (30 s timeout).
# A no-op (about 0.1 s) when the engine already answers.
set -euo pipefail

LOG=${HELIOS_DOCKERD_LOG:-/var/log/helios-dockerd.log}
TIMEOUT=${HELIOS_DOCKERD_TIMEOUT:-30}
DOCKERD=/usr/sbin/dockerd
PIDFILE=/var/run/docker.pid

engine_up() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

if engine_up; then
  exit 0
fi

command -v docker >/dev/null 2>&1 || { echo "dockerd.sh: no docker client on PATH (run scripts/setup.sh)" >&2; exit 1; }
[ -x "$DOCKERD" ] || { echo "dockerd.sh: $DOCKERD missing (run scripts/setup.sh)" >&2; exit 1; }

# A dockerd that is still starting (or one started by a concurrent run of this script): wait for it
# instead of starting a second one, which would fail on the pid file anyway.
existing=""
if [ -s "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/comm" 2>/dev/null; then
    existing=$pid
  else
    # Left over by a dockerd that was killed: dockerd refuses to start while it exists.
    rm -f "$PIDFILE"
  fi
fi

if [ -z "$existing" ]; then
  mkdir -p "$(dirname "$LOG")"
  echo "dockerd.sh: starting $DOCKERD (log: $LOG)" >&2
  # setsid + nohup: the engine must outlive this script, the test run and CI's process group.
  printf '\n=== %s helios dockerd.sh start ===\n' "$(date -u +%FT%TZ)" >>"$LOG"
  nohup setsid "$DOCKERD" >>"$LOG" 2>&1 </dev/null &
  existing=$!
fi

deadline=$(( $(date +%s) + TIMEOUT ))
until engine_up; do
  if ! kill -0 "$existing" 2>/dev/null && ! { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
    echo "dockerd.sh: dockerd exited during startup; last log lines:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "dockerd.sh: docker engine did not answer within ${TIMEOUT}s; last log lines:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "dockerd.sh: docker engine $(docker info --format '{{.ServerVersion}}') is up" >&2
