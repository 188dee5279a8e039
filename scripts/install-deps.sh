#!/usr/bin/env bash
# Installs what Berth and its tests need on a fresh Debian 12 machine (run as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(runc crun conmon catatonit busybox-static golang-github-containers-common containernetworking-plugins
      iproute2 iptables zstd pigz skopeo umoci docker-registry apache2-utils docker.io mmdebstrap
      python3-docker docker-compose bsdutils openssl openssh-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules/better-sqlite3 ] || [ ! -d node_modules/typescript ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> npm run build"
npm run build --silent
