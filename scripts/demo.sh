#!/usr/bin/env bash
# Berth's main job, end to end on a fresh Debian 12 machine (as root): install, build, make a local
# base image, then the tutorial's walkthrough: run a container, change a file in it, remove it,
# run a fresh one (the change is gone), commit a changed container (the new image keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export BERTH_ROOT=${BERTH_ROOT:-/var/lib/berth} BERTH_RUNROOT=${BERTH_RUNROOT:-/run/berth}
berth() { node bin/berth "$@"; }
step() { printf '\n\033[1m$ berth %s\033[0m\n' "$*"; berth "$@"; }

bash scripts/make-busybox-image.sh
step images
step run --rm busybox echo "This is my Docker demo!"
berth rm -f demo >/dev/null 2>&1 || true
step run --name demo busybox sh -c 'echo "changed inside the container" > /note.txt; cat /note.txt'
step diff demo
step rm demo
echo "# a fresh container from the same image does not have the file:"
berth run --rm busybox cat /note.txt || echo "(no /note.txt: the writable layer went with the container)"
step run --name demo busybox sh -c 'echo "kept by commit" > /note.txt'
step commit -m "add note" demo demo-note:1
step rm demo
step run --rm demo-note:1 cat /note.txt
step history demo-note:1
step ps -a
