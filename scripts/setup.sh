#!/usr/bin/env bash
# Installs everything ckpt and its tests need on a fresh Debian bookworm machine (run as root):
# npm dependencies, runc, iptables, busybox-static, and CRIU 4.2.1 with the reference tools crit 4.2.1
# and checkpointctl 1.3.0 from Debian sid, unpacked into a private root because sid's builds need a
# newer glibc than bookworm has. Idempotent: a second run only checks and exits.
set -euo pipefail

PREFIX=${CKPT_TOOLS_PREFIX:-/opt/ckpt-tools}
SID_ROOT="$PREFIX/sid-root"
BIN="$PREFIX/bin"
CRIU_WRAPPER=/usr/local/sbin/criu
PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SID_PACKAGES=(criu libcompel1 libnet9 libnl-3-200 libc6 python3-pycriu checkpointctl)
# sid's criu links bookworm's libnftables1 and libprotobuf-c1 (found through --library-path).
# The node agent: CNI plugins (pod networks), openssl (test certificates), docker-registry (a real OCI
# registry on loopback), skopeo and umoci (independent OCI tools the tests check our images with).
BOOKWORM_PACKAGES=(runc iptables busybox-static python3-protobuf iproute2 gcc libc6-dev libnftables1 libprotobuf-c1 zstd xz-utils bzip2 time
  containernetworking-plugins openssl docker-registry skopeo umoci)

log() { printf 'setup: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "must run as root (installs Debian packages and /usr/local/sbin/criu)"
    exit 1
  fi
}

install_bookworm_packages() {
  local missing=()
  for p in "${BOOKWORM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The mirror of the machine's own Debian sources, so no host name is written here.
debian_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "cannot find the Debian mirror in /etc/apt"; exit 1; }
  printf '%s' "$uri"
}

sid_tools_ok() {
  [ -x "$CRIU_WRAPPER" ] && "$CRIU_WRAPPER" --version 2>/dev/null | grep -q 'Version: 4\.2' &&
    [ -x "$BIN/crit" ] && "$BIN/crit" --help >/dev/null 2>&1 &&
    [ -x "$BIN/checkpointctl" ] && "$BIN/checkpointctl" --help >/dev/null 2>&1
}

install_sid_tools() {
  local apt_dir="$PREFIX/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  printf 'deb %s sid main\n' "$(debian_mirror)" >"$apt_dir/sid.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sid.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
  log "fetching ${SID_PACKAGES[*]} from sid"
  apt-get "${opts[@]}" update -qq
  (cd "$apt_dir/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download -qq "${SID_PACKAGES[@]}")
  rm -rf "$SID_ROOT.new"
  mkdir -p "$SID_ROOT.new"
  for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$SID_ROOT.new"; done
  rm -rf "$SID_ROOT"
  mv "$SID_ROOT.new" "$SID_ROOT"
  write_wrappers
}

write_wrappers() {
  local lib="$SID_ROOT/usr/lib/x86_64-linux-gnu"
  local loader="$lib/ld-linux-x86-64.so.2"
  local libpath="$lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu"
  mkdir -p "$BIN" "$(dirname "$CRIU_WRAPPER")"
  cat >"$BIN/criu" <<WRAP
#!/bin/sh
exec "$loader" --argv0 criu --library-path "$libpath" "$SID_ROOT/usr/sbin/criu" "\$@"
WRAP
  cat >"$BIN/checkpointctl" <<WRAP
#!/bin/sh
exec "$loader" --argv0 checkpointctl --library-path "$lib" "$SID_ROOT/usr/bin/checkpointctl" "\$@"
WRAP
  # crit needs Debian's python3 (with bookworm's python3-protobuf), not a python3 earlier on PATH.
  cat >"$BIN/crit" <<WRAP
#!/bin/sh
PYTHONPATH="$SID_ROOT/usr/lib/python3/dist-packages" exec /usr/bin/python3 -m crit "\$@"
WRAP
  chmod 755 "$BIN/criu" "$BIN/checkpointctl" "$BIN/crit"
  # runc looks criu up in PATH, so the 4.2.1 wrapper goes in front of bookworm's.
  ln -sf "$BIN/criu" "$CRIU_WRAPPER"
}

install_npm_dependencies() {
  cd "$PROJECT_DIR"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm dependencies"
    npm ci --no-audit --no-fund --loglevel=error
  fi
  if [ ! -f dist/.build-stamp ] || [ -n "$(find src bin -newer dist/.build-stamp -print -quit 2>/dev/null)" ]; then
    log "building"
    npm run --silent build
  fi
}

need_root
install_bookworm_packages
if sid_tools_ok; then
  write_wrappers
else
  install_sid_tools
  sid_tools_ok || { log "CRIU 4.2.1, crit or checkpointctl does not run after install"; exit 1; }
fi
install_npm_dependencies
log "ready: criu $("$CRIU_WRAPPER" --version | awk '/Version/ {print $2}'), crit and checkpointctl in $BIN"
