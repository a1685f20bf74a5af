#!/usr/bin/env bash
# Build the local test image helios-test/web:latest without any registry (`npm run test-image`).
#
# rootfs = Debian's static busybox + a symlink for every applet (sh, sleep, true, false, wget, nc,
# httpd, ...) in /bin, /www/index.html ("Hello from Helios test image") and /www/healthz ("ok"),
# imported with `docker import`. Default CMD /serve serves /www over HTTP on port 80 (override with
# env PORT) in the foreground and exits 0 promptly on SIGTERM/SIGINT (busybox as PID 1 would ignore
# SIGTERM and `docker stop` would wait out its whole grace period).
# Any command can be run instead, e.g. `docker run --rm helios-test/web sh -c 'exit 1'`.
#
# The image carries the label helios.test.inputs=<sha256 of this script + the busybox binary>; if
# the existing image has the same hash nothing is rebuilt (about 0.1 s). After a build the image is
# verified: it answers HTTP on a published 127.0.0.1 port and `docker stop` takes < 2 s.
# Set HELIOS_TEST_IMAGE_VERIFY=1 to verify an up-to-date image too, HELIOS_TEST_IMAGE_FORCE=1 to rebuild.
set -euo pipefail

IMAGE=helios-test/web:latest
TEXT='Hello from Helios test image'
LABEL_KEY=helios.test.inputs
SELF=$(readlink -f "${BASH_SOURCE[0]}")
BUSYBOX=/bin/busybox

log() { echo "build-test-image.sh: $*" >&2; }

[ -x "$BUSYBOX" ] || { log "$BUSYBOX missing: install busybox-static (scripts/setup.sh)"; exit 1; }
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  log "busybox-static is not installed ($BUSYBOX may be dynamically linked): run scripts/setup.sh"
  exit 1
fi
docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || bash "$(dirname "$SELF")/dockerd.sh"

# Serialise concurrent builds (test.sh and vitest's global setup may both call this).
exec 9>/tmp/helios-test-image.lock
flock -w 120 9 || { log "could not take /tmp/helios-test-image.lock"; exit 1; }

HASH=$(cat "$SELF" "$BUSYBOX" | sha256sum | cut -c1-32)
current=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)

VERIFY=${HELIOS_TEST_IMAGE_VERIFY:-}
if [ "$current" = "$HASH" ] && [ -z "${HELIOS_TEST_IMAGE_FORCE:-}" ]; then
  [ -n "$VERIFY" ] || { log "$IMAGE is up to date ($HASH)"; exit 0; }
else
  VERIFY=1
  old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  work=$(mktemp -d /tmp/helios-test-image.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,www,proc,sys,dev,root}
  chmod 1777 "$rootfs/tmp"
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    case "$applet" in busybox|*/*) continue ;; esac
    ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf '<!doctype html>\n<html><body><h1>%s</h1></body></html>\n' "$TEXT" >"$rootfs/www/index.html"
  printf 'ok\n' >"$rootfs/www/healthz"
  cat >"$rootfs/serve" <<'SERVE'
#!/bin/sh
# Serve /www on $PORT (default 80) in the foreground; exit 0 promptly on SIGTERM/SIGINT.
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; exit 0' TERM INT
busybox httpd -f -p "${PORT:-80}" -h /www &
pid=$!
wait "$pid"
SERVE
  chmod 755 "$rootfs/serve"

  log "building $IMAGE ($HASH)"
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
    docker import \
      --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
      --change 'WORKDIR /' \
      --change 'EXPOSE 80/tcp' \
      --change "LABEL $LABEL_KEY=$HASH" \
      --change 'CMD ["/serve"]' \
      -m "helios test image $HASH" - "$IMAGE" >/dev/null
  new_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true # still used by a container: leave it
  fi
fi

# --- verify ---------------------------------------------------------------------------------------
cid=$(docker run -d --label helios-test=image-verify -p 127.0.0.1::80 "$IMAGE")
cleanup_verify() { docker rm -f "$cid" >/dev/null 2>&1 || true; }
trap 'cleanup_verify; rm -rf "${work:-/nonexistent}"' EXIT
port=$(docker port "$cid" 80/tcp | head -n1 | sed 's/.*://')

http_get() { # host port path -> body on stdout (bash /dev/tcp: curl/nc may be missing)
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  timeout 5 cat <&3
  exec 3<&- 3>&-
}

deadline=$(( $(date +%s) + 20 ))
body=""
until body=$(http_get 127.0.0.1 "$port" / 2>/dev/null) && [[ "$body" == *"$TEXT"* ]]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "verification failed: no HTTP answer with the index text on 127.0.0.1:$port"
    docker logs "$cid" >&2 || true
    exit 1
  fi
  sleep 0.1
done

t0=$(date +%s%N)
docker stop "$cid" >/dev/null
t1=$(date +%s%N)
stop_ms=$(( (t1 - t0) / 1000000 ))
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
if [ "$stop_ms" -ge 2000 ]; then
  log "verification failed: docker stop took ${stop_ms} ms (SIGTERM not handled?)"
  exit 1
fi
log "$IMAGE verified: HTTP on 127.0.0.1:$port answered, docker stop took ${stop_ms} ms (exit $exit_code)"
