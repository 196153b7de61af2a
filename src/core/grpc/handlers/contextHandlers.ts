import type { ContextService } from '../../contexts/ContextService.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { contextFromWire, contextToWire, required, type Wire } from './mappers.js';

export function contextHandlers(rt: RpcRuntime, contexts: ContextService) {
  return {
    ContextCreate: rt.unary('ContextCreate', async (req) => {
      const c = await contexts.create(contextFromWire(req.context), Boolean(req.use));
      return { context: contextToWire(c), message: `context "${c.name}" created${c.current ? ' and in use' : ''}` };
    }),
    ContextUpdate: rt.unary('ContextUpdate', async (req) => {
      const name = required(req.name || req.context?.name, 'name', 'the name of the context to update');
      const c = await contexts.update(name, contextFromWire({ ...req.context, name }), (req.updateMask ?? []) as string[]);
      return { context: contextToWire(c), message: `context "${c.name}" updated` };
    }),
    ContextUse: rt.unary('ContextUse', async (req) => {
      const c = await contexts.use(required(req.name, 'name'));
      return { context: contextToWire(c), message: `now using context "${c.name}"` };
    }),
    ContextList: rt.unary('ContextList', async () => {
      const { contexts: list, current } = await contexts.list();
      return { contexts: list.map(contextToWire), current };
    }),
    ContextRemove: rt.unary('ContextRemove', async (req) => {
      const c = await contexts.remove(required(req.name, 'name'));
      return { context: contextToWire({ ...c, current: false }), message: `context "${c.name}" removed` };
    }),
    ContextCurrent: rt.unary('ContextCurrent', async () => ({ context: contextToWire(await contexts.current()) })),
  };
}
