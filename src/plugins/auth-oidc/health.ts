// The auth component of HealthCheck: is the context's issuer's discovery document served (with the right
// issuer) and is its JWKS reachable? Reports the latency of both.
import type { CallContext, ComponentHealth } from '../../plugin-api/index.js';

const NAME = 'auth';

export async function checkIssuer(ctx: CallContext, timeoutMs: number): Promise<ComponentHealth> {
  const issuer = ctx.context.authServer?.trim().replace(/\/+$/, '');
  if (!issuer) {
    return { name: NAME, status: 'NOT_CONFIGURED', message: `context "${ctx.context.name}" has no auth server`, latencyMs: 0 };
  }
  const started = performance.now();
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const meta = await getJson(`${issuer}/.well-known/openid-configuration`, signal);
    const discoveryMs = elapsed();
    if (meta.issuer !== issuer) {
      return down(`discovery document names issuer "${String(meta.issuer)}", not ${issuer}`, elapsed());
    }
    if (typeof meta.jwks_uri !== 'string') return down(`discovery document of ${issuer} has no jwks_uri`, elapsed());
    const jwks = await getJson(meta.jwks_uri, signal);
    const keys = Array.isArray(jwks.keys) ? jwks.keys.length : 0;
    if (keys === 0) return down(`JWKS at ${meta.jwks_uri} holds no keys`, elapsed());
    const latencyMs = elapsed();
    return {
      name: NAME,
      status: 'SERVING',
      message: `${issuer}: discovery and JWKS (${keys} keys) reachable`,
      latencyMs,
      details: { issuer, discoveryMs: String(discoveryMs), jwksMs: String(latencyMs - discoveryMs), jwksKeys: String(keys) },
    };
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms`
      : e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
    return down(`auth server ${issuer} is unavailable: ${why}`, elapsed());
  }
}

function down(message: string, latencyMs: number): ComponentHealth {
  return { name: NAME, status: 'NOT_SERVING', message, latencyMs };
}

async function getJson(url: string, signal: AbortSignal): Promise<Record<string, unknown>> {
  const res = await fetch(url, { headers: { accept: 'application/json' }, signal });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}
