import { InvalidArgumentError } from '../../errors.js';
import type { NetworkManager, NetworkMode } from '../../ports/network.js';
import type { PortSlot } from '../../plugins/PortBindings.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { networkName, networkToWire } from './mappers.js';

const MODES: NetworkMode[] = ['nat', 'isolated', 'routed', 'bridge'];

export function networkHandlers(rt: RpcRuntime, networks: PortSlot<NetworkManager>) {
  const nets = () => networks.get();
  return {
    NetworkList: rt.unary('NetworkList', async (_req, ctx) => ({ networks: (await nets().list(ctx)).map(networkToWire) })),
    NetworkGet: rt.unary('NetworkGet', async (req, ctx) => ({ network: networkToWire(await nets().get(networkName(req.name, 'name'), ctx)) })),
    NetworkCreate: rt.unary('NetworkCreate', async (req, ctx) => {
      const mode = (req.mode || 'nat') as NetworkMode;
      if (!MODES.includes(mode)) throw new InvalidArgumentError(`mode "${req.mode}" is not one of ${MODES.join(', ')}`, { field: 'mode' });
      const n = await nets().create({
        name: networkName(req.name, 'name'), mode, subnet: req.subnet ?? '', gateway: req.gateway ?? '', dhcp: Boolean(req.dhcp),
        dhcpStart: req.dhcpStart ?? '', dhcpEnd: req.dhcpEnd ?? '', bridgeName: req.bridgeName ?? '', forwardDevice: req.forwardDevice ?? '',
        domain: req.domain ?? '', autostart: Boolean(req.autostart), activate: Boolean(req.activate),
      }, ctx);
      return { network: networkToWire(n), message: `network "${n.name}" created${n.active ? ' and active' : ''}` };
    }),
    NetworkActivate: rt.unary('NetworkActivate', async (req, ctx) => {
      const n = await nets().activate(networkName(req.name, 'name'), ctx);
      return { network: networkToWire(n), message: `network "${n.name}" active` };
    }),
    NetworkDeactivate: rt.unary('NetworkDeactivate', async (req, ctx) => {
      const n = await nets().deactivate(networkName(req.name, 'name'), { force: Boolean(req.force) }, ctx);
      return { network: networkToWire(n), message: `network "${n.name}" inactive` };
    }),
    NetworkDelete: rt.unary('NetworkDelete', async (req, ctx) => {
      const name = networkName(req.name, 'name');
      await nets().delete(name, { force: Boolean(req.force) }, ctx);
      return { message: `network "${name}" deleted` };
    }),
  };
}
