#!/usr/bin/env bash
# ensure.sh SERVICE... — makes each named system service available for the tests, or fails saying what is missing.
# Services: packages (Debian packages), libvirtd. Registries and the OIDC provider are started by the test
# fixtures themselves (test/support/), on loopback ports of their own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for s in "$@"; do
  case "$s" in
    packages) bash "$here/apt-packages.sh" ;;
    # The same script users run (README quick start), plus the test-only packages.
    libvirtd) bash "$here/apt-packages.sh" && bash "$here/../host-setup.sh" >/dev/null ;;
    *) echo "unknown service: $s" >&2; exit 2 ;;
  esac
done
