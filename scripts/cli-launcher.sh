#!/bin/sh
# `vmr` (package.json bin): starts the CLI loader beside it (vmr.cjs) without NODE_EXTRA_CA_CERTS. Node 20
# reads that file and builds its whole root certificate store at process start, before any script runs:
# ~85 ms of every `vmr ps` where the variable is set, more than the CLI's own start (issue 17). The CLI
# speaks no TLS (only the daemon's socket), so nothing is lost; the value travels as VMR_NODE_EXTRA_CA_CERTS
# and the CLI puts it back for the programs it runs (src/bin/vmr.ts).
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  VMR_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export VMR_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
# npm installs the bin as a symlink: the loader is beside the file the link points to.
self=$(readlink -f -- "$0") || exit 1
exec node "${self%/*}/vmr.cjs" "$@"
