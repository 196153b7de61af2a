#!/usr/bin/env bash
# Builds a bootable Debian 12 (bookworm) cloud image from Debian packages: systemd, the distribution's
# own cloud-init (NoCloud), openssh-server, qemu-guest-agent. The facts behind each step are in
# shared/docs/test-guest.md ("A real distribution image"). Needs root, network access to a Debian
# mirror, and the packages in scripts/services/apt-packages.sh; no loop mounts (only proc/sys/devpts
# for the chroot).
#
# usage: build-debian.sh OUT.qcow2
#   Writes OUT.qcow2 atomically (a temp file beside it, then rename). The mirror is the host's first
#   non-security Debian mirror from its apt sources; DEBIAN_MIRROR overrides it.
#
# The image: MBR + p1 FAT16 (syslinux, kernel, initrd) + p2 ext4 labelled vmr-debian-root (the last
# partition, so cloud-init's growpart can grow it); 2 GiB virtual; default user `debian` (sudo, no
# password, SSH key only); host keys and machine-id are made per instance at first boot.
set -euo pipefail

out=${1:?usage: build-debian.sh OUT.qcow2}
suite=bookworm
label=vmr-debian-root
disk_mib=2048
boot_mib=128
packages=(linux-image-amd64 systemd-sysv cloud-init openssh-server sudo ifupdown isc-dhcp-client cloud-guest-utils
  qemu-guest-agent e2fsprogs iproute2 netbase dbus ca-certificates)

die() { echo "build-debian: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"
missing=()
for pair in debootstrap:debootstrap sfdisk:fdisk mkfs.vfat:dosfstools syslinux:syslinux mcopy:mtools \
  mkfs.ext4:e2fsprogs qemu-img:qemu-utils chroot:coreutils; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || missing+=(syslinux-common)
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]} (bash scripts/services/apt-packages.sh installs them)"

host_mirror() {
  # deb822 (*.sources) first, then one-line sources.list entries; skip security and non-Debian repos.
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" | grep -v -- '-security' |
      grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' "$f" |
      grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}
mirror=${DEBIAN_MIRROR:-$(host_mirror)}

out_dir=$(cd "$(dirname "$out")" && pwd)
out=$out_dir/$(basename "$out")
# On the output's filesystem: the work needs ~2.5 GiB and /tmp may be a small tmpfs.
work=$(mktemp -d "$out_dir/.build-debian.XXXXXX")
root=$work/root
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
  done
  mounted=()
  # Never rm -rf through a mount point that is still there.
  if grep -q " $root/" /proc/self/mounts; then
    echo "build-debian: mounts under $root remain; leaving $work in place" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "build-debian: [$(date -u +%T)] $*" >&2; }

step "debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

# Everything the kernel's initramfs hook reads has to exist before linux-image-amd64 is installed:
# inside a chroot initramfs-tools cannot see the root filesystem, so it is told.
cat > "$root/etc/fstab" <<EOF
LABEL=$label / ext4 errors=remount-ro 0 1
EOF
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d" "$root/etc/modprobe.d"
echo FSTYPE=ext4 > "$root/etc/initramfs-tools/conf.d/vmregistry-fstype"
echo RESUME=none > "$root/etc/initramfs-tools/conf.d/resume"
# Loaded in the initramfs so both a virtio and a SATA root disk and the NoCloud cdrom are seen
# (modules.d, not /etc/initramfs-tools/modules: that is a conffile of the package still to come).
printf '%s\n' virtio_pci virtio_blk virtio_scsi virtio_net ahci sd_mod sr_mod isofs ext4 \
  > "$root/usr/share/initramfs-tools/modules.d/vmregistry"
# Probing the i440fx floppy costs seconds under TCG.
echo 'blacklist floppy' > "$root/etc/modprobe.d/vmregistry-floppy.conf"
# No docs, man pages or translations: a quarter of the image for nothing a test reads.
cat > "$root/etc/dpkg/dpkg.cfg.d/vmregistry-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
# Maintainer scripts must not start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

for fs in proc sys dev/pts; do
  mkdir -p "$root/$fs"
  case $fs in
    (proc) mount -t proc proc "$root/proc" ;;
    (sys) mount -t sysfs sysfs "$root/sys" ;;
    (dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" ;;
  esac
  mounted+=("$root/$fs")
done

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# apt's resolver, not debootstrap's: debootstrap cannot resolve python3-cryptography's virtual deps.
step "apt-get install ${packages[*]}"
in_root apt-get -qq update >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get update failed"; }
in_root apt-get -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "${packages[@]}" >>"$work/apt.log" 2>&1 ||
  { tail -n 40 "$work/apt.log" >&2; die "apt-get install failed (log above)"; }

kver=$(cd "$root/lib/modules" && ls -1 | sort -V | tail -n1)
[ -n "$kver" ] && [ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] ||
  die "the kernel package left no /boot/vmlinuz-$kver and initrd.img-$kver"
initrd_list=$(in_root lsinitramfs "/boot/initrd.img-$kver")
for m in virtio_blk virtio_pci ahci sr_mod isofs ext4; do
  grep -qE "/$m\.ko(\.[a-z]+)?$" <<<"$initrd_list" || die "initrd lacks the $m module"
done
grep -qE '(^|/)sbin/fsck\.ext4$' <<<"$initrd_list" || die "initrd lacks fsck.ext4 (FSTYPE not seen?)"

mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat > "$root/etc/cloud/cloud.cfg.d/90-vmregistry.cfg" <<'EOF'
# vmregistry test image: seeds come from a NoCloud cidata cdrom; no network metadata services probed.
datasource_list: [ NoCloud, None ]
# There is no `locales` package; the default en_US.UTF-8 would fail the locale module.
locale: C.UTF-8
system_info:
  default_user:
    name: debian
    lock_passwd: true
    gecos: Debian
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
EOF
# cloud-init's ssh module makes the host keys before sshd starts; this covers a boot without it.
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/vmregistry-hostkeys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
echo debian > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"

# Per-instance identity is made at first boot; apt/dpkg leftovers and the host's resolver go.
in_root apt-get clean
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id" "$root/usr/sbin/policy-rc.d" \
  "$root/etc/resolv.conf" "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
: > "$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* "$root"/var/lib/cloud/*
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"

for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}"; done
mounted=()
grep -q " $root/" /proc/self/mounts && die "mounts under $root remain"

step "disk image (kernel $kver)"
sector=512
boot_start=2048
boot_sectors=$((boot_mib * 1024 * 1024 / sector))
root_start=$((boot_start + boot_sectors))
root_sectors=$((disk_mib * 1024 * 1024 / sector - root_start))
truncate -s "${disk_mib}M" "$work/disk.raw"
sfdisk -q "$work/disk.raw" >/dev/null <<EOF
label: dos
start=$boot_start, size=$boot_sectors, type=6, bootable
start=$root_start, size=$root_sectors, type=83
EOF

mkfs.vfat -F 16 -C -n VMRBOOT "$work/boot.img" $((boot_sectors / 2)) >/dev/null
syslinux --install "$work/boot.img"
cat > "$work/syslinux.cfg" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  KERNEL vmlinuz
  APPEND initrd=initrd.img root=LABEL=$label ro console=tty0 console=ttyS0,115200n8
EOF
mcopy -i "$work/boot.img" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/

truncate -s $((root_sectors * sector)) "$work/root.img"
mkfs.ext4 -q -F -L "$label" -d "$root" "$work/root.img"
dd if="$work/boot.img" of="$work/disk.raw" bs=$sector seek=$boot_start conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start * sector)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none

step "qemu-img convert -c"
qemu-img convert -c -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
chmod 0644 "$work/disk.qcow2"
mv -f "$work/disk.qcow2" "$out"
step "done: $out"
echo "$out"
