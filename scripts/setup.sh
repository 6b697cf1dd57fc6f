#!/usr/bin/env bash
# Installs everything ckpt and its tests need on a fresh Debian bookworm machine (run as root):
# npm dependencies, runc, iptables, busybox-static, and CRIU 4.2.1 with the reference tools crit 4.2.1
# and checkpointctl 1.3.0 from Debian sid, unpacked into a private root because sid's builds need a
# newer glibc than bookworm has; and sid's containerd 2.1.9 (a real CRI runtime with CheckpointContainer)
# with the CRI API's api.proto, in a private root of their own. Idempotent: a second run only checks
# and exits.
set -euo pipefail

PREFIX=${CKPT_TOOLS_PREFIX:-/opt/ckpt-tools}
SID_ROOT="$PREFIX/sid-root"
BIN="$PREFIX/bin"
CRIU_WRAPPER=/usr/local/sbin/criu
PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SID_PACKAGES=(criu libcompel1 libnet9 libnl-3-200 libc6 python3-pycriu checkpointctl)
# containerd needs only glibc >= 2.34, so its binaries run directly from their own private root.
CONTAINERD_ROOT="$PREFIX/containerd-root"
CONTAINERD_PACKAGES=(containerd golang-k8s-cri-api-dev)
CRI_API_PROTO=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto
# sid's criu links bookworm's libnftables1 and libprotobuf-c1 (found through --library-path).
# The node agent: CNI plugins (pod networks), openssl (test certificates), docker-registry (a real OCI
# registry on loopback), skopeo and umoci (independent OCI tools the tests check our images with).
BOOKWORM_PACKAGES=(runc iptables busybox-static python3-protobuf iproute2 gcc libc6-dev gdb libnftables1 libprotobuf-c1 zstd xz-utils bzip2 time
  containernetworking-plugins openssl docker-registry skopeo umoci age chromium)

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

# Downloads sid's packages $3… into the directory $1 (emptied first) through a private apt list,
# and unpacks them all into the private root $2 (replaced whole).
fetch_sid_packages() {
  local debs=$1 root=$2
  shift 2
  local apt_dir="$PREFIX/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$debs"
  printf 'deb %s sid main\n' "$(debian_mirror)" >"$apt_dir/sid.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sid.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
  log "fetching $* from sid"
  apt-get "${opts[@]}" update -qq
  # _apt cannot write into root's directories; the download then runs as root, which is what we want.
  (cd "$debs" && rm -f ./*.deb && apt-get "${opts[@]}" download -qq "$@" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
  for p in "$@"; do
    ls "$debs/${p}"_*.deb >/dev/null 2>&1 || { log "could not download $p from sid"; exit 1; }
  done
  rm -rf "$root.new"
  mkdir -p "$root.new"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root.new"; done
  rm -rf "$root"
  mv "$root.new" "$root"
}

install_sid_tools() {
  fetch_sid_packages "$PREFIX/apt/debs" "$SID_ROOT" "${SID_PACKAGES[@]}"
  write_wrappers
}

containerd_ok() {
  [ -x "$BIN/containerd" ] && "$BIN/containerd" --version 2>/dev/null | grep -q ' v\?2\.1\.' &&
    [ -x "$BIN/containerd-shim-runc-v2" ] && [ -x "$BIN/ctr" ] && "$BIN/ctr" --version >/dev/null 2>&1 &&
    [ -f "$CONTAINERD_ROOT/$CRI_API_PROTO" ]
}

install_containerd() {
  fetch_sid_packages "$PREFIX/apt/containerd-debs" "$CONTAINERD_ROOT" "${CONTAINERD_PACKAGES[@]}"
  write_containerd_links
}

# Links, not wrappers: containerd starts its shim by the name containerd-shim-runc-v2 found in PATH
# (or beside its own executable), and needs no private loader.
write_containerd_links() {
  mkdir -p "$BIN"
  for b in containerd containerd-shim-runc-v2 ctr; do ln -sfn "$CONTAINERD_ROOT/usr/bin/$b" "$BIN/$b"; done
  ln -sfn "$CONTAINERD_ROOT/$CRI_API_PROTO" "$PREFIX/cri-api.proto"
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
if containerd_ok; then
  write_containerd_links
else
  install_containerd
  containerd_ok || { log "containerd 2.1, its runc shim, ctr or the CRI api.proto is missing after install"; exit 1; }
fi
install_npm_dependencies
log "ready: criu $("$CRIU_WRAPPER" --version | awk '/Version/ {print $2}'), crit, checkpointctl, containerd $("$BIN/containerd" --version | awk '{print $3}') and ctr in $BIN"
