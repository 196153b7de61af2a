#!/usr/bin/env bash
# host-setup.sh — makes a Debian 12 machine ready to run vmregistryd and vmr: installs the runtime
# packages (libvirt, QEMU, qemu-utils, dnsmasq, zstd, the ssh client) and starts libvirtd
# with its `default` NAT network. Idempotent; run as root. The test suites reach it through
# scripts/services/ensure.sh, so what the README tells users to run is what CI runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/services/apt-packages.sh" --runtime
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  # A host booted with systemd: let it own libvirtd (socket-activated) and virtlogd.
  systemctl enable --now libvirtd.socket virtlogd.socket >/dev/null 2>&1 || systemctl enable --now libvirtd virtlogd
  for i in $(seq 1 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh -q -c qemu:///system net-info default >/dev/null 2>&1 ||
    virsh -q -c qemu:///system net-define /usr/share/libvirt/networks/default.xml >/dev/null
  virsh -q -c qemu:///system net-info default | grep -qi '^Active:.*yes' || virsh -q -c qemu:///system net-start default >/dev/null
  virsh -q -c qemu:///system net-autostart default >/dev/null
else
  # No systemd (a container, CI): start the daemons directly.
  bash "$here/services/libvirtd.sh"
fi
echo "host ready: libvirtd at qemu:///system, network \"default\" active"
