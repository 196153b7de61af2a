#!/usr/bin/env bash
# The test command (npm test): installs and starts what the suites need, builds with tsc, runs node --test.
# VMR_TEST_SUITES=unit runs only the suites that need no system service.
# VMR_TEST_OPT_OUT=libvirtd,registry,… explicitly opts out of suites needing those services (they are
# reported as skipped, never as passed). Without it, a service that cannot be started fails its suites.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${VMR_TEST_SUITES:-all}" != unit ]; then
  if ! bash scripts/services/ensure.sh packages libvirtd; then
    echo "test services could not be prepared; suites that need them will fail (set VMR_TEST_OPT_OUT to opt out)" >&2
  fi
fi
rm -rf dist
npm run build --silent  # tsc, then the CLI's contract descriptor (src/cli/wire)
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if [ "${VMR_TEST_SUITES:-all}" = unit ]; then
  mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -v -E '/(e2e|integration)/' || true)
fi
[ ${#files[@]} -gt 0 ] || { echo "no test files found" >&2; exit 1; }
# --test-timeout bounds each test file as a whole (a describe's own timeout cannot raise it): 30 min, a hang guard
# only — every wait inside the suites has its own bound. The real-guest e2e files (two Debian 12 guests under TCG)
# take 5 min on an idle 2-core machine and ran past 10 min at load 10 (two CI runs at once on 2 cores).
exec node --enable-source-maps --import reflect-metadata --test --test-concurrency="${VMR_TEST_CONCURRENCY:-2}" \
  --test-timeout="${VMR_TEST_TIMEOUT_MS:-1800000}" "${files[@]}"
