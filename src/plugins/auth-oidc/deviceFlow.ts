// The device authorization grant (RFC 8628) split over two Login calls, because the CLI must show the
// user code before any token exists:
//   1. start(): device authorization request; the pending grant (issuer, interval, expiry) is remembered
//      in the state store under a hash of the device code, so completion survives a daemon restart.
//   2. complete(): polls the token endpoint at the provider's interval for up to `waitMs` (and never past
//      the call's signal). If the user has not finished by then it answers pending=true and the CLI simply
//      calls Login again with the same device code after `interval` seconds. This keeps every RPC short
//      and deadline-friendly, while a CLI without a deadline still gets the tokens in one call most times.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { type KeyValueStore, sleep } from '../../plugin-api/index.js';
import { oauthErrorCode } from './oidcErrors.js';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEFAULT_INTERVAL_S = 5;

export interface PendingDevice {
  issuer: string;
  clientId: string;
  context: string;
  interval: number;
  expiresAt: number;
}

export type DevicePoll =
  | { done: true; tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>> }
  | { done: false; interval: number };

const pendingKey = (deviceCode: string) => `device:${createHash('sha256').update(deviceCode).digest('hex')}`;

export async function startDevice(
  config: oidc.Configuration, params: Record<string, string>, kv: KeyValueStore, who: Omit<PendingDevice, 'interval' | 'expiresAt'>,
): Promise<oidc.DeviceAuthorizationResponse> {
  const da = await oidc.initiateDeviceAuthorization(config, params);
  const pending: PendingDevice = {
    ...who,
    interval: da.interval ?? DEFAULT_INTERVAL_S,
    expiresAt: Date.now() + da.expires_in * 1000,
  };
  await kv.set(pendingKey(da.device_code), pending, da.expires_in * 1000);
  return da;
}

export async function pendingDevice(kv: KeyValueStore, deviceCode: string): Promise<PendingDevice | undefined> {
  return kv.get<PendingDevice>(pendingKey(deviceCode));
}

export async function forgetDevice(kv: KeyValueStore, deviceCode: string): Promise<void> {
  await kv.delete(pendingKey(deviceCode));
}

export async function pollDevice(
  config: oidc.Configuration, deviceCode: string, extra: Record<string, string>, kv: KeyValueStore,
  pending: PendingDevice | undefined, waitMs: number, signal: AbortSignal,
): Promise<DevicePoll> {
  let interval = pending?.interval ?? DEFAULT_INTERVAL_S;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const tokens = await oidc.genericGrantRequest(config, DEVICE_GRANT, { ...extra, device_code: deviceCode });
      return { done: true, tokens };
    } catch (err) {
      const code = oauthErrorCode(err);
      if (code === 'slow_down') {
        interval += 5; // RFC 8628 §3.5
        if (pending) await kv.set(pendingKey(deviceCode), { ...pending, interval }, Math.max(1, pending.expiresAt - Date.now()));
      } else if (code !== 'authorization_pending') {
        throw err;
      }
    }
    if (Date.now() + interval * 1000 > deadline) return { done: false, interval };
    await sleep(interval * 1000, signal, 'login cancelled while waiting for the user');
  }
}
