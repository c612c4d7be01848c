#!/usr/bin/env bash
# Install every Debian package belt needs (idempotent). Run as root, or with sudo available.
#   scripts/deps.sh           build + test dependencies
#   scripts/deps.sh --bench   also the benchmark peers (fastText, nginx+njs, wrk, hyperfine)
set -euo pipefail
PKGS=(build-essential cmake pkg-config python3 curl ca-certificates
      libevent-dev libcurl4-openssl-dev libsqlite3-dev sqlite3 libfyaml-dev libjansson-dev
      libpcre2-dev libsodium-dev libhiredis-dev libcmocka-dev redis-server)
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(fasttext nginx libnginx-mod-http-js wrk hyperfine time)
fi
# Node.js + npm run the official `openai` client in the integration tests; the base image
# usually has them, else take Debian's.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# apt may be busy (unattended upgrades on a fresh machine): retry in a bounded loop.
apt_retry() {
  for i in $(seq 1 30); do
    if $SUDO apt-get "$@"; then return 0; fi
    echo "deps.sh: apt-get $1 failed (dpkg lock busy?); retry $i/30 in 10s" >&2
    sleep 10
  done
  return 1
}
echo "deps.sh: installing ${missing[*]}" >&2
apt_retry update -qq
apt_retry install -y -qq --no-install-recommends "${missing[@]}"
