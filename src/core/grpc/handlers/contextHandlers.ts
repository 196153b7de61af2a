import type { ContextService } from '../../contexts/ContextService.js';
import type { ContextInfo } from '../../ports/common.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { contextFromWire, contextToWire, required, type Wire } from './mappers.js';

/** ContextInfo's editable fields: update_mask name → field of the decoded message. */
const SET_FIELDS: ReadonlyArray<[string, keyof ContextInfo]> = [
  ['description', 'description'], ['registry_url', 'registryUrl'], ['auth_server', 'authServer'],
  ['auth_client_id', 'authClientId'], ['libvirt_uri', 'libvirtUri'], ['insecure_registry', 'insecureRegistry'],
];

export function contextHandlers(rt: RpcRuntime, contexts: ContextService) {
  return {
    ContextCreate: rt.unary('ContextCreate', async (req) => {
      const c = await contexts.create(contextFromWire(req.context), Boolean(req.use));
      return { context: contextToWire(c), message: `context "${c.name}" created${c.current ? ' and in use' : ''}` };
    }),
    ContextUpdate: rt.unary('ContextUpdate', async (req) => {
      const name = required(req.name || req.context?.name, 'name', 'the name of the context to update');
      const patch = contextFromWire({ ...req.context, name });
      const given = (req.updateMask ?? []) as string[];
      // AIP-134: an empty mask means "the fields that are set" (proto3: not empty, not false), never "all".
      const mask = given.length ? given : SET_FIELDS.filter(([, key]) => patch[key]).map(([field]) => field);
      const c = mask.length ? await contexts.update(name, patch, mask) : await contexts.get(name);
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
