// `vmr` starts Node without NODE_EXTRA_CA_CERTS (scripts/cli-loader.cjs: Node 20 loads that file at start,
// and the CLI speaks no TLS). The value rides along as VMR_NODE_EXTRA_CA_CERTS; put back, the programs the CLI
// runs (ssh, qemu-img, tar, and whatever they run) see the environment the user set.
export const SAVED_CA_CERTS = 'VMR_NODE_EXTRA_CA_CERTS';

export function restoreLaunchEnv(env: NodeJS.ProcessEnv = process.env): void {
  const saved = env[SAVED_CA_CERTS];
  if (saved === undefined) return;
  env.NODE_EXTRA_CA_CERTS = saved;
  delete env[SAVED_CA_CERTS];
}
