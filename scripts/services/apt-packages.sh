#!/usr/bin/env bash
# Installs the Debian packages the test suites need. Idempotent: only missing packages are installed.
# Tests call this through scripts/services/ensure.sh; it needs root and apt.
set -euo pipefail
PKGS=(libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base docker-registry skopeo openssl xorriso
      busybox-static linux-image-amd64 syslinux syslinux-common mtools dosfstools fdisk cpio
      redis-server python3-grpcio protobuf-compiler protobuf-compiler-grpc libprotobuf-dev python3-protobuf zstd iproute2 tmux zsh openssh-server openssh-client netcat-openbsd)
PKGS+=(systemd) # systemd-analyze verifies packaging/systemd units (test/packaging)
PKGS+=(glewlwyd) # a second, C-based OIDC provider for test/integration/auth (started by the suite, not as a service)
PKGS+=(debootstrap e2fsprogs util-linux) # the Debian 12 test image (scripts/guest/build-debian.sh)
PKGS+=(postgresql) # shared state on PostgreSQL (test/integration/state/postgresState.test.ts)
PKGS+=(hyperfine) # bench/user.sh times CLI start with repetition
PKGS+=(gcc libc6-dev libzstd-dev) # npm run build compiles the in-process zstd binding (native/zstd.c)
# --runtime: only what vmregistryd and vmr need at run time (scripts/host-setup.sh), not the test tools.
# gcc, libc6-dev and libzstd-dev: the build of the zstd binding (without them imports use the zstd binary).
RUNTIME_PKGS=(libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base zstd util-linux openssh-client gcc libc6-dev libzstd-dev)
runtime=false
if [ "${1:-}" = --runtime ]; then PKGS=("${RUNTIME_PKGS[@]}"); runtime=true; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Avoid starting services from maintainer scripts: there is no systemd here and we start what we need ourselves.
# On a machine run by systemd (a real host, not this test container) package scripts may start services.
if ! $runtime || [ ! -d /run/systemd/system ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
apt-get -o DPkg::Lock::Timeout=900 update -qq || true
apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
