// Getting into a VM: GetVM (inspect), VMLogs (the console log) and AttachVMConsole (the interactive
// serial console). All go through the daemon, so a client that cannot read the daemon's files works.
import { NotImplementedError } from '../../errors.js';
import type { Hypervisor, VMRecord } from '../../ports/hypervisor.js';
import type { PortSlot } from '../../plugins/PortBindings.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import type { ResponseOf } from '../messages.js';
import { required, vmToInfoWire } from './mappers.js';

export function vmDetailToWire(v: VMRecord): ResponseOf<'GetVM'> {
  return {
    vm: vmToInfoWire(v),
    started: v.startedAt ?? '',
    networks: v.networks.map((n) => ({ ...n })),
    disks: (v.disks ?? []).map((d) => ({ ...d, backingPath: d.backingPath ?? '' })),
    libvirtUri: v.libvirtUri ?? '',
    defaultUser: v.defaultUser ?? '',
    cloudInit: v.cloudInit ? { ...v.cloudInit } : null,
    composeIndex: v.compose?.index ?? 0,
    consoleLog: v.consoleLog ?? '',
    domainType: v.domainType ?? '',
  };
}

export function vmAccessHandlers(rt: RpcRuntime, hypervisor: PortSlot<Hypervisor>) {
  const hv = () => hypervisor.get();
  return {
    GetVM: rt.unary('GetVM', async (req, ctx) => vmDetailToWire(await hv().get(required(req.vm, 'vm'), ctx))),

    VMLogs: rt.serverStream('VMLogs', async (req, ctx, emit) => {
      const h = hv();
      if (!h.logs) throw new NotImplementedError('the hypervisor plugin does not serve console logs');
      const tailLines = Number(req.tailLines) || 0;
      for await (const data of h.logs(required(req.vm, 'vm'), { follow: Boolean(req.follow), tailLines }, ctx)) {
        await emit({ data });
      }
      return undefined;
    }),

    AttachVMConsole: rt.bidiStream('AttachVMConsole', async (messages, ctx, emit) => {
      const h = hv();
      if (!h.console) throw new NotImplementedError('the hypervisor plugin does not serve consoles');
      const input = messages[Symbol.asyncIterator]();
      const first = await input.next();
      if (first.done) return;
      const session = await h.console(required(first.value.vm, 'vm'), ctx);
      const close = () => session.close();
      ctx.signal.addEventListener('abort', close, { once: true });
      try {
        if (first.value.data?.length) session.write(Buffer.from(first.value.data));
        // Keyboard input until the client half-closes (detach) or cancels; either ends the session.
        void (async () => {
          for (;;) {
            const next = await input.next();
            if (next.done) break;
            if (next.value.data?.length) session.write(Buffer.from(next.value.data));
          }
        })().catch(() => undefined).finally(close);
        for await (const data of session.output) await emit({ data });
      } finally {
        ctx.signal.removeEventListener('abort', close);
        close();
      }
      if (ctx.signal.aborted) throw ctx.signal.reason;
    }),
  };
}
