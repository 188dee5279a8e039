#!/usr/bin/env bash
# Builds the local `busybox` base image from Debian's busybox-static (no Docker Hub needed).
# Usage: scripts/make-busybox-image.sh [berth global options...]   (e.g. --root DIR --runroot DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH="bin/berth $*"
if $BERTH image inspect busybox:latest >/dev/null 2>&1; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r="$tmp/rootfs"
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var/tmp,proc,sys,dev}
cp /bin/busybox "$r/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$r/$(dirname "$applet")"
  ln -sf /bin/busybox "$r/$applet"
done
chmod 1777 "$r/tmp" "$r/var/tmp"
chmod 700 "$r/root"
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$r/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" -cf "$tmp/rootfs.tar" .
$BERTH import --change 'CMD ["sh"]' -m "busybox-static from Debian" "$tmp/rootfs.tar" busybox:latest >/dev/null
echo "built busybox:latest"
