#!/usr/bin/env bash
# Idempotent machine + repo setup for Helios-TS (Debian/Ubuntu, as root, no prompts: CI has no stdin).
#
#  1. Debian packages docker.io, busybox-static, zookeeper: `apt-get update` once and install only
#     the ones that are missing.
#     Plus g++/make/python3 if absent: with no GitHub access better-sqlite3's prebuilt binary cannot
#     be downloaded, so `npm ci` compiles it with node-gyp (~90 s on 2 cores).
#  2. `npm ci` only if node_modules is missing or older than package.json/package-lock.json
#     (tracked by the stamp file node_modules/.helios-setup-stamp); if only patches/ changed,
#     just re-run patch-package.
#  3. Start dockerd if it is not running (scripts/dockerd.sh).
#
# Re-running when everything is present changes nothing and takes well under a second.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "setup.sh: $*" >&2; }

# --- 1. Debian packages -------------------------------------------------------------------------
PACKAGES=(docker.io busybox-static zookeeper)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
# Toolchain for node-gyp (better-sqlite3 builds from source when its prebuilt download fails).
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "need root to install ${missing[*]}"; exit 1; }
    SUDO="sudo -n"
  fi
  log "installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null
fi

# --- 2. npm dependencies --------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || { log "node is not installed (need Node >= 20.19)"; exit 1; }
command -v npm >/dev/null 2>&1 || { log "npm is not installed"; exit 1; }

STAMP=node_modules/.helios-setup-stamp
# Without our stamp (node_modules made by a plain `npm ci`), npm's own hidden lockfile tells when
# node_modules was last installed.
ref=$STAMP
[ -e "$ref" ] || ref=node_modules/.package-lock.json

need_npm=""
if [ ! -d node_modules ] || [ ! -e "$ref" ]; then
  need_npm="node_modules missing"
elif [ package-lock.json -nt "$ref" ] || [ package.json -nt "$ref" ]; then
  need_npm="package-lock.json changed"
fi

if [ -n "$need_npm" ]; then
  log "npm ci ($need_npm)"
  npm ci --no-audit --no-fund </dev/null
  touch "$STAMP"
elif [ -d patches ] && [ -n "$(find patches -newer "$ref" -print -quit)" ]; then
  # patch-package recognises patches that are already applied, so this is safe to repeat.
  log "patches/ changed: re-running patch-package"
  node_modules/.bin/patch-package </dev/null
  touch "$STAMP"
elif [ ! -e "$STAMP" ]; then
  touch "$STAMP"
fi

# --- 3. Docker engine -----------------------------------------------------------------------------
bash "$ROOT/scripts/dockerd.sh"
