#!/usr/bin/env bash
# Starts libvirtd (and virtlogd, which QEMU domains need for their logs) without systemd, and makes
# sure libvirt's `default` NAT network exists and is active. Idempotent.
set -euo pipefail
sock=/run/libvirt/libvirt-sock
if ! command -v libvirtd >/dev/null; then echo "libvirtd is not installed (apt-get install libvirt-daemon-system)" >&2; exit 1; fi
if [ "$(id -u)" != 0 ]; then
  [ -S "$sock" ] && exit 0
  echo "libvirtd is not running and starting it needs root (run: sudo libvirtd -d)" >&2; exit 1
fi
mkdir -p /run/libvirt /var/lib/libvirt/images
pgrep -x virtlogd >/dev/null || virtlogd -d
if ! pgrep -x libvirtd >/dev/null || [ ! -S "$sock" ]; then
  rm -f "$sock" "$sock-ro" "$sock-admin"
  libvirtd -d
fi
# Under load (TCG guests on 2 cores) a restart can take tens of seconds.
for i in $(seq 1 600); do [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.1; done
[ -S "$sock" ] || { echo "libvirtd did not create $sock" >&2; exit 1; }
if ! virsh -q -c qemu:///system net-info default >/dev/null 2>&1; then
  if [ -f /usr/share/libvirt/networks/default.xml ]; then virsh -q -c qemu:///system net-define /usr/share/libvirt/networks/default.xml >/dev/null; fi
fi
info=$(virsh -q -c qemu:///system net-info default 2>/dev/null || true)
if printf '%s\n' "$info" | grep -qi '^Active:.*no'; then
  virsh -q -c qemu:///system net-start default >/dev/null
fi
exit 0
