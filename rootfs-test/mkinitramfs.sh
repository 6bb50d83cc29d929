#!/bin/sh
# Build the initramfs of the sample system.
#
#   mkinitramfs.sh OUT.cpio.gz STAGE BIN SERVICES MODULES [ALT_CINIT [TOOLS]]
#
# STAGE is the directory the root filesystem is assembled in (kept, so that
# `make check-services` can validate the tree inside it); BIN holds the static
# cinit and cinit-ctl; SERVICES is the base directory copied to /etc/cinit;
# MODULES holds the virtio .ko files for the data disk; ALT_CINIT, if given,
# is a second cinit build installed as /sbin/cinit.alt (for the hot-update
# scenario). The services only the QEMU suite uses (`vm-svc/`, outside
# init's tree) go to /etc/cinit/svc/vm; TOOLS, if given, holds the static
# programs they run (`vm-tools/`, built by the Makefile), copied to /bin.
set -eu
abs() { [ -z "$1" ] || realpath -m "$1"; }
out=$(abs "$1") stage=$(abs "$2") bin=$(abs "$3") services=$(abs "$4")
modules=$(abs "$5") alt=$(abs "${6:-}") tools=$(abs "${7:-}")
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$stage"
mkdir -p "$stage"
cd "$stage"
mkdir -p bin sbin etc proc sys dev run tmp var/log root data lib/modules/virtio
# Whatever the builder's umask: cinit writes a log file only into a
# directory root alone may write (syslogd's is /var/log).
chmod 0755 . var var/log
# busybox and every applet but the ones cinit-ctl provides: busybox's own
# reboot/halt/poweroff send signals with other meanings than cinit's.
cp /bin/busybox bin/busybox
for applet in $(bin/busybox --list); do
    case $applet in
        busybox | reboot | halt | poweroff | init | linuxrc) ;;
        *) ln -s busybox "bin/$applet" ;;
    esac
done
cp "$bin/cinit" sbin/cinit
cp "$bin/cinit-ctl" bin/cinit-ctl
for a in reboot halt poweroff; do ln -s ../bin/cinit-ctl "sbin/$a"; done
ln -s sbin/cinit init
if [ -n "$alt" ]; then cp "$alt" sbin/cinit.alt; fi
if [ -n "$tools" ]; then cp "$tools"/* bin/; fi
cp -R "$services" etc/cinit
cp -R "$here/vm-svc" etc/cinit/svc/vm
cp -R "$here/rootfs/." .
# Whatever the builder's umask: services that run as another user (httpd
# as www) must reach their service directory (their working directory),
# their `on` and what they serve; the password hashes stay root's.
chmod -R go+rX,go-w etc/cinit srv etc/passwd etc/group
chmod 0600 etc/shadow
if [ -d "$modules" ]; then cp "$modules"/*.ko lib/modules/virtio/ 2>/dev/null || true; fi
find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | gzip -1 > "$out"
