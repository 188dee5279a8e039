#!/usr/bin/env bash
# Makes a local `python:3.11-slim` image from Debian's repositories (no Docker Hub needed): a minbase
# bookworm root file system with python3-minimal (Python 3.11), `python` -> python3, imported with
# docker's python image defaults. The tarball is cached, so reruns take a second.
# Usage: scripts/make-python-image.sh [berth global options...]   (e.g. --root DIR --runroot DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH="bin/berth $*"
if $BERTH image inspect python:3.11-slim >/dev/null 2>&1; then exit 0; fi
cache=${BERTH_IMAGE_CACHE:-/var/cache/berth}
tarball="$cache/python-3.11-slim-bookworm.tar"
if [ ! -s "$tarball" ]; then
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 1; }
  mkdir -p "$cache"
  tmp="$cache/.python-3.11-slim-bookworm.$$.tar"
  trap 'rm -f "$tmp"' EXIT
  mmdebstrap --quiet --variant=minbase --include=python3-minimal \
    --customize-hook='chroot "$1" ln -sf python3 /usr/bin/python' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$tmp"
  mv "$tmp" "$tarball"
fi
$BERTH import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHON_VERSION=3.11' \
  --change 'CMD ["python3"]' \
  -m "python3-minimal from Debian bookworm (mmdebstrap)" "$tarball" python:3.11-slim >/dev/null
echo "built python:3.11-slim"
