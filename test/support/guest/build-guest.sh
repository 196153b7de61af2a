#!/usr/bin/env bash
# Builds the tiny test guest described in shared/docs/test-guest.md from Debian packages only:
# the generic Debian kernel + a busybox initramfs on a syslinux-bootable FAT partition, so the image
# boots from its own disk like any cloud image. No root, loop mounts or network needed.
#
# usage: build-guest.sh OUT_DIR
# writes OUT_DIR/guest.raw (sparse), OUT_DIR/guest.qcow2 and OUT_DIR/vmfile.yaml (points at guest.qcow2).
#
# What the guest does (serial console, kernel cmdline console=ttyS0):
#   loads virtio/net/blk/ahci/cdrom/isofs/button modules, mounts the NoCloud `cidata` seed (any cdrom
#   labelled cidata), prints `VMR-GUEST user-data-begin` … `VMR-GUEST user-data-end` (and the same for
#   meta-data), takes a DHCP lease on eth0 and prints `VMR-GUEST ip=<addr>`, then `VMR-GUEST ready`.
#   It then waits: an ACPI power-button press (virsh shutdown) makes it print `VMR-GUEST acpi-poweroff`
#   and power off; nothing else stops it.
set -euo pipefail

out=${1:?usage: build-guest.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for cmd in busybox cpio gzip sfdisk mkfs.vfat syslinux mcopy qemu-img modinfo; do
  command -v "$cmd" >/dev/null || {
    echo "build-guest: '$cmd' is missing; install the packages in scripts/services/apt-packages.sh" >&2; exit 1; }
done
# busybox-static installs /bin/busybox; a dynamic one would not run inside the initramfs.
bb=/bin/busybox
[ -x "$bb" ] || { echo "build-guest: /bin/busybox missing (install busybox-static)" >&2; exit 1; }

# The newest generic kernel installed (linux-image-amd64); the cloud kernel lacks AHCI.
vmlinuz=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | grep -v cloud | sort -V | tail -n1 || true)
[ -n "$vmlinuz" ] || { echo "build-guest: no /boot/vmlinuz-*-amd64 (install linux-image-amd64)" >&2; exit 1; }
kver=${vmlinuz#/boot/vmlinuz-}
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || { echo "build-guest: $mbr missing (install syslinux-common)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,mnt/seed,tmp,etc/acpi/PWRF,etc/udhcpc,lib/modules}
cp "$bb" "$root/bin/busybox"
for applet in [ test sh mount umount cat echo sleep insmod ip udhcpc acpid poweroff sync mkdir ls blkid findfs grep sed head dmesg uname; do
  ln -s busybox "$root/bin/$applet"
done

# Dependency order (modinfo -F depends); a missing module is fatal here, not a silent boot failure.
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net
virtio_blk scsi_common scsi_mod cdrom sr_mod libata libahci ahci ata_piix isofs button evdev"
: > "$root/etc/modules"
for m in $mods; do
  f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || { echo "build-guest: module $m not found for $kver" >&2; exit 1; }
  case "$f" in
    (builtin*) continue ;;
    (*.ko) cp "$f" "$root/lib/modules/$m.ko" ;;
    (*.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    (*.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    (*) echo "build-guest: unexpected module file $f" >&2; exit 1 ;;
  esac
  echo "$m" >> "$root/etc/modules"
done

cat > "$root/etc/udhcpc/default.script" <<'SCRIPT'
#!/bin/sh
# udhcpc calls this with the lease in the environment.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface" 2>/dev/null
    echo "$ip" > /tmp/ip ;;
esac
exit 0
SCRIPT

# busybox acpid turns the power-button key into the event PWRF; acpid.conf maps it to the script
# PWRF/00000080 under its config dir.
cat > "$root/etc/acpi/PWRF/00000080" <<'SCRIPT'
#!/bin/sh
echo "VMR-GUEST acpi-poweroff" > /dev/console
sync
# The UART drains asynchronously; powering off at once can lose the line above.
sleep 1
poweroff -f
SCRIPT
echo "PWRF PWRF/00000080" > "$root/etc/acpid.conf"

cat > "$root/init" <<'SCRIPT'
#!/bin/sh
# PID 1 of the test guest. It must never exit (the kernel would panic).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "VMR-GUEST boot kernel=$(uname -r)"
while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null || echo "VMR-GUEST insmod-failed $m"; done < /etc/modules
# Without -l, acpid dies opening /var/log/acpid.log, which this initramfs does not have.
acpid -c /etc/acpi -a /etc/acpid.conf -l /tmp/acpid.log
ip link set lo up

# Wait for the cdrom (ahci/sr probing is asynchronous) and mount whichever one is labelled cidata.
seed=""
i=0
while [ -z "$seed" ] && [ $i -lt 100 ]; do
  for dev in /dev/sr* /dev/vd*; do
    [ -b "$dev" ] || continue
    if mount -t iso9660 -o ro "$dev" /mnt/seed 2>/dev/null; then
      if [ -f /mnt/seed/meta-data ] || [ -f /mnt/seed/user-data ]; then seed=$dev; break; fi
      umount /mnt/seed
    fi
  done
  [ -n "$seed" ] || { sleep 0.1; i=$((i + 1)); }
done
hostname=vmr-guest
if [ -n "$seed" ]; then
  echo "VMR-GUEST seed=$seed"
  for f in user-data meta-data network-config; do
    [ -f "/mnt/seed/$f" ] || continue
    echo "VMR-GUEST $f-begin"
    cat "/mnt/seed/$f"
    echo
    echo "VMR-GUEST $f-end"
  done
  h=$(sed -n 's/^local-hostname:[[:space:]]*//p' /mnt/seed/meta-data 2>/dev/null | head -n1)
  [ -n "$h" ] && hostname=$h
else
  echo "VMR-GUEST no-seed"
fi

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up 2>/dev/null
# Generous timeouts: under TCG on a loaded host the guest can take seconds to answer an offer.
i=0
while [ ! -f /tmp/ip ] && [ $i -lt 3 ]; do
  udhcpc -s /etc/udhcpc/default.script -i eth0 -n -q -t 10 -T 3 -x "hostname:$hostname" >/dev/null 2>&1
  i=$((i + 1))
done
if [ -f /tmp/ip ]; then
  echo "VMR-GUEST ip=$(cat /tmp/ip)"
else
  echo "VMR-GUEST no-ip"
fi
echo "VMR-GUEST ready"
while :; do sleep 3600; done
SCRIPT
chmod 0755 "$root/init" "$root/etc/udhcpc/default.script" "$root/etc/acpi/PWRF/00000080"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.gz"

cat > "$work/syslinux.cfg" <<'CFG'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd.gz console=ttyS0 quiet panic=5
CFG

# 48 MiB disk: MBR + one bootable FAT16 partition from sector 2048.
disk_mib=48
part_kib=$(( (disk_mib - 1) * 1024 ))
truncate -s "${disk_mib}M" "$work/disk.raw"
echo 'start=2048, type=6, bootable' | sfdisk -q "$work/disk.raw" >/dev/null
mkfs.vfat -C -n VMRGUEST "$work/part.img" "$part_kib" >/dev/null
syslinux --install "$work/part.img"
mcopy -i "$work/part.img" "$vmlinuz" ::/vmlinuz
mcopy -i "$work/part.img" "$work/initrd.gz" ::/initrd.gz
mcopy -i "$work/part.img" "$work/syslinux.cfg" ::/syslinux.cfg
dd if="$work/part.img" of="$work/disk.raw" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none

# Sparse raw (what the image store keeps as a base disk) and the qcow2 a user would import.
cp --sparse=always "$work/disk.raw" "$out/guest.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$out/guest.qcow2"

cat > "$out/vmfile.yaml" <<YAML
api_version: vmregistry.io/v1alpha1
kind: VMFile
metadata:
  name: vmr-test-guest
  description: Debian $kver kernel + busybox initramfs; prints its cloud-init seed and DHCP address on ttyS0
  author: vmregistry test fixtures
  source: test/support/guest/build-guest.sh
  labels: { os: busybox, purpose: test }
spec:
  disk: { path: ./guest.qcow2, format: qcow2 }
  resources: { memory_mb: 256, vcpu_count: 1, disk_size_gb: 1 }
  os: { architecture: x86_64, firmware: bios }
YAML
echo "$out/guest.qcow2"
