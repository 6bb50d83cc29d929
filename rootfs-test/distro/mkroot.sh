#!/bin/sh
# Build the Debian bookworm root filesystem of `make test-distro`, cached.
#
#   mkroot.sh CACHE_DIR
#
# Prints the path of a tarball CACHE_DIR/root-HASH.tar, where HASH covers the
# package list and this script: it is built with mmdebstrap (minbase and the
# packages in ./packages, no systemd-sysv) only when no tarball with that hash
# exists, so a warm cache costs nothing. The tarball holds what every run
# shares: the packages and a root password for the login on the serial
# console. Per-run things (cinit itself, the service tree, the ssh key) are
# added by mkimage.sh, never cached.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=$(realpath -m "$1")
suite=bookworm
mirror=http://deb.debian.org/debian
hash=$(cat "$here/packages" "$here/mkroot.sh" | sha256sum | cut -c1-16)
out="$cache/root-$hash.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
pkgs=$(grep -v '^#' "$here/packages" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
echo "mkroot: building $out (mmdebstrap $suite: $pkgs)" >&2
# The root password is for the getty login only; the image never leaves the
# test. ssh logs in with a key per run. The Debian services' own start-up
# (invoke-rc.d during installation) is disabled by mmdebstrap already.
mmdebstrap --variant=minbase --format=tar --include="$pkgs" \
    --customize-hook='chroot "$1" sh -c "echo root:cinit | chpasswd"' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "$suite" "$out.tmp" "$mirror" >&2
mv "$out.tmp" "$out"
# Older builds of the root are of no use any more.
for f in "$cache"/root-*.tar; do [ "$f" = "$out" ] || rm -f "$f"; done
echo "$out"
