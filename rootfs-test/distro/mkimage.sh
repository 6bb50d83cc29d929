#!/bin/sh
# Assemble the disk image and initramfs of `make test-distro`, fresh for
# each run.
#
#   mkimage.sh WORK ROOT_TAR BIN SERVICES MODULES PUBKEY
#
# WORK is emptied and receives:
#   root/           the root filesystem, unpacked from ROOT_TAR (mkroot.sh)
#                   and completed (kept for `cinit-ctl check`)
#   root.img        an ext4 image of it (mke2fs -d: no loop mount needed)
#   initramfs.cpio.gz  busybox-static, the virtio modules from MODULES and
#                   ./init, which mounts the image and hands over to cinit
# BIN holds the static cinit and cinit-ctl, SERVICES is the base directory
# installed as /etc/cinit (services/debian), PUBKEY the ssh public key that
# may log in as root (made per run by the test's Makefile target).
set -eu
abs() { realpath -m "$1"; }
work=$(abs "$1") tarball=$(abs "$2") bin=$(abs "$3") services=$(abs "$4")
modules=$(abs "$5") pubkey=$(abs "$6")
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$work"
mkdir -p "$work/root"
cd "$work/root"
tar -x --numeric-owner --xattrs --xattrs-include='*' -f "$tarball"

# cinit and its control tool; reboot, halt and poweroff are cinit-ctl (no
# other init is installed: the minbase variant has none).
install -m 0755 "$bin/cinit" usr/sbin/cinit
install -m 0755 "$bin/cinit-ctl" usr/sbin/cinit-ctl
for a in reboot halt poweroff shutdown; do rm -f "usr/sbin/$a" "sbin/$a"; done
for a in reboot halt poweroff; do ln -s cinit-ctl "usr/sbin/$a"; done
rm -rf etc/cinit
cp -R "$services" etc/cinit

# The system's own configuration the service tree reads.
echo cinit-debian > etc/hostname
cat > etc/hosts <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	cinit-debian
::1		localhost ip6-localhost ip6-loopback
HOSTS
cat > etc/fstab <<'FSTAB'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda	/		ext4	errors=remount-ro	0	1
devpts		/dev/pts	devpts	gid=5,mode=0620		0	0
tmpfs		/dev/shm	tmpfs	nosuid,nodev		0	0
tmpfs		/tmp		tmpfs	nosuid,nodev,mode=1777	0	0
FSTAB
echo 'nameserver 10.0.2.3' > etc/resolv.conf

# Per run: the key the test logs in with over ssh.
install -d -m 0700 root/.ssh
install -m 0600 "$pubkey" root/.ssh/authorized_keys

# A cron job the test waits for: a line a minute.
cat > etc/cron.d/cinit-test <<'CRON'
* * * * * root date +\%s >> /var/tmp/cron-mark
CRON
chmod 0644 etc/cron.d/cinit-test

# 1 GiB, sparse; the root holds about 300 MB.
mke2fs -q -F -t ext4 -L root -d . "$work/root.img" 1G >/dev/null

# The initramfs.
ird="$work/initramfs"
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot" "$ird/lib/modules"
cp /bin/busybox "$ird/bin/busybox"
for applet in $("$ird/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ird/bin/$applet"
done
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
    virtio_blk failover net_failover virtio_net; do
    cp "$modules/$m.ko" "$ird/lib/modules/"
done
install -m 0755 "$here/init" "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | gzip -1) \
    > "$work/initramfs.cpio.gz"
rm -rf "$ird"
