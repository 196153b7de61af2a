import type { PortSlot } from '../../plugins/PortBindings.js';
import type { AuthProvider } from '../../ports/auth.js';
import type { HealthService } from '../../health/HealthService.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import { required } from './mappers.js';

export function authHandlers(rt: RpcRuntime, auth: PortSlot<AuthProvider>, health: HealthService) {
  return {
    Login: rt.unary('Login', async (req, ctx) => {
      const deviceFlow = Boolean(req.deviceFlow) || Boolean(req.deviceCode);
      if (!deviceFlow) required(req.username, 'username', 'username (or use the device flow)');
      const r = await auth.get().login({
        username: req.username ?? '', password: req.password ?? '', server: req.server ?? '',
        deviceFlow, deviceCode: req.deviceCode ?? '',
      }, ctx);
      return { ...r, interval: r.interval ?? 0, pending: r.pending ?? false };
    }),
    Logout: rt.unary('Logout', async (req, ctx) => auth.get().logout(req.server ?? '', ctx)),
    Register: rt.unary('Register', async (req, ctx) => {
      required(req.username, 'username');
      required(req.password, 'password');
      return auth.get().register({
        username: req.username, password: req.password, email: req.email ?? '', displayName: req.displayName ?? '',
      }, ctx);
    }),
    HealthCheck: rt.unary('HealthCheck', async (_req, ctx) => {
      const h = await health.check(ctx);
      return { ...h, components: h.components.map((c) => ({ ...c, latencyMs: String(c.latencyMs), details: c.details ?? {} })) };
    }),
  };
}
