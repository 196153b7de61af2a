// "Is sshd up?" as `vmr ssh` and compose's ssh_ready condition both ask it: TCP connect, then the
// server's first bytes must be the "SSH-" banner (a port that accepts but says nothing is not ready).
// node:net is taken on first use (process.getBuiltinModule): the CLI bundles this file, and a static import
// would load net at every `vmr` start (issue 17).

/** True once something on ip:port speaks SSH; false on refusal, silence past `timeoutMs`, or other bytes. */
export function sshBanner(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = process.getBuiltinModule('node:net').connect({ host: ip, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('data', (b: Buffer) => done(b.subarray(0, 4).toString() === 'SSH-'));
    sock.once('error', () => done(false));
    sock.once('end', () => done(false));
  });
}
