#!/usr/bin/env bash
# Berth's main job, end to end on a fresh Debian 12 machine (as root): install, build, make a local
# base image, then the tutorial's walkthrough: run a container, change a file in it, remove it,
# run a fresh one (the change is gone), commit a changed container (the new image keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export BERTH_ROOT=${BERTH_ROOT:-/var/lib/berth} BERTH_RUNROOT=${BERTH_RUNROOT:-/run/berth}
berth() { bin/berth "$@"; }
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

# Build an image from a Dockerfile (examples/python-demo), run it, and rebuild after an edit.
bash scripts/make-python-image.sh
step build -t demo examples/python-demo
step run --rm demo
berth rm -f demo-run >/dev/null 2>&1 || true
step run --name demo-run demo sh -c 'echo "print(\"changed in the container\")" > /app/app.py; python app.py'
step rm demo-run
echo "# a fresh container runs the image's app.py again:"
step run --rm demo
cp examples/python-demo/app.py /tmp/berth-demo-app.py.bak
trap 'cp /tmp/berth-demo-app.py.bak examples/python-demo/app.py' EXIT
echo 'print("Rebuilt after editing app.py")' >> examples/python-demo/app.py
echo "# rebuild after editing app.py: FROM and WORKDIR come from the cache, COPY runs again:"
step build --progress plain -t demo examples/python-demo
step run --rm demo
