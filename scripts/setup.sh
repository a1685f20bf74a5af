#!/usr/bin/env bash
# Idempotent machine + repo setup for Helios-TS (Debian/Ubuntu, as root, no prompts: CI has no stdin).
#
#  1. Debian packages docker.io, busybox-static, chromium and fonts-liberation (the dashboard's
#     browser tests drive Debian's chromium through playwright-core: no browser download; the
#     fonts are only a recommendation of chromium's): `apt-get update` once and install only the
#     ones that are missing.
#     Plus g++/make/python3 if absent: with no GitHub access better-sqlite3's prebuilt binary cannot
#     be downloaded, so `npm ci` compiles it with node-gyp (~90 s on 2 cores). Plus a Java runtime
#     and Maven if absent, for ZooKeeper.
#  2. ZooKeeper 3.9.5 (server jar and its runtime jars) from Maven Central into $HELIOS_ZK_LIB
#     (default /opt/helios/zookeeper-3.9.5/lib; test/zookeeper.ts reads the same variable), with
#     `mvn dependency:copy-dependencies` on scripts/zookeeper/pom.xml. Not Debian's `zookeeper`
#     package: Debian 12's is 3.8.0, which has bugs that lose committed transactions (README,
#     "Which ZooKeeper"). Redone only when the pom changes (its sha256 is kept in the directory).
#  3. `npm ci` only if node_modules is missing or older than package.json/package-lock.json
#     (tracked by the stamp file node_modules/.helios-setup-stamp); if only patches/ changed,
#     just re-run patch-package.
#  4. Start dockerd if it is not running (scripts/dockerd.sh).
#  5. Compile the programs that bin/helios.js, bin/helios-master.js and bin/helios-agent.js run
#     (dist/, scripts/build.mjs) if they are missing or older than the sources they were built from.
#
# Re-running when everything is present changes nothing and takes well under a second.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "setup.sh: $*" >&2; }

# --- 1. Debian packages -------------------------------------------------------------------------
PACKAGES=(docker.io busybox-static chromium fonts-liberation)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
# Toolchain for node-gyp (better-sqlite3 builds from source when its prebuilt download fails).
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# ZooKeeper runs on Java (>= 11 for 3.9); Maven fetches it.
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)

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

# --- 2. ZooKeeper from Maven Central --------------------------------------------------------------
ZK_VERSION=3.9.5 # also in scripts/zookeeper/pom.xml and test/zookeeper.ts
ZK_LIB=${HELIOS_ZK_LIB:-/opt/helios/zookeeper-$ZK_VERSION/lib}
ZK_POM=$ROOT/scripts/zookeeper/pom.xml
ZK_STAMP=$ZK_LIB/.helios-pom.sha256
zk_pom_sum=$(sha256sum "$ZK_POM" | cut -d' ' -f1)

if [ ! -f "$ZK_LIB/zookeeper-$ZK_VERSION.jar" ] || [ "$(cat "$ZK_STAMP" 2>/dev/null)" != "$zk_pom_sum" ]; then
  log "installing ZooKeeper $ZK_VERSION from Maven Central into $ZK_LIB"
  # Fetch into a sibling directory and swap it in, so an interrupted download never looks installed.
  zk_tmp="$ZK_LIB.tmp.$$"
  rm -rf "$zk_tmp"
  mkdir -p "$(dirname "$ZK_LIB")"
  # Maven's output is shown only when it fails (even -q -B prints stray terminal escapes).
  zk_mvn_log=$(mktemp)
  if ! mvn -q -B -f "$ZK_POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$zk_tmp" </dev/null >"$zk_mvn_log" 2>&1 \
    || [ ! -f "$zk_tmp/zookeeper-$ZK_VERSION.jar" ]; then
    cat "$zk_mvn_log" >&2
    rm -rf "$zk_tmp" "$zk_mvn_log"
    log "ERROR: could not download org.apache.zookeeper:zookeeper:$ZK_VERSION and its dependencies from"
    log "Maven Central (Maven's output is above). Check network access to Maven Central (or the mirror"
    log "in ~/.m2/settings.xml), then re-run scripts/setup.sh."
    exit 1
  fi
  rm -f "$zk_mvn_log"
  echo "$zk_pom_sum" >"$zk_tmp/.helios-pom.sha256"
  rm -rf "$ZK_LIB"
  mv "$zk_tmp" "$ZK_LIB"
fi

# --- 3. npm dependencies --------------------------------------------------------------------------
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

if [ -n "$need_npm" ] && [ -L node_modules ]; then
  # A git worktree sharing another checkout's node_modules: `npm ci` here would empty the shared
  # directory through the link (it removes node_modules' entries, not the link) under everyone
  # using it. Install in the checkout that owns it.
  log "node_modules is a link to $(readlink node_modules) ($need_npm): not running npm ci through it; run scripts/setup.sh where it lives"
elif [ -n "$need_npm" ]; then
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

# --- 4. Docker engine -----------------------------------------------------------------------------
bash "$ROOT/scripts/dockerd.sh"

# --- 5. The compiled programs ---------------------------------------------------------------------
# Not fatal: without them the bins run the same programs from the TypeScript sources, only slower.
node scripts/build.mjs </dev/null || log "WARNING: could not compile the programs (npm run build); helios runs from source (slower)"
