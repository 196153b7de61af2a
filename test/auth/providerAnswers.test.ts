// How the auth plugin reads what a provider answers, against a tiny scripted provider on loopback:
// bare 4xx → UNAUTHENTICATED (with the provider's reason when it gives one), 5xx/hang → UNAVAILABLE,
// the call's cancel honoured; a client secret presented as the discovery document asks (client_secret_post
// here) and only to the issuer it is bound to; a failed revocation keeps the end-session hint.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startAuthPlugin, type AuthHarness } from '../support/oidc/harness.js';
import { readBody, sendJson } from '../support/oidc/http.js';

type Reply = (req: IncomingMessage, res: ServerResponse) => void;
type CodedError = Error & { code?: string };
const SECRET = 'conf-secret_9f3.Zq';
const pw = (username: string, password: string) => ({ username, password, server: '', deviceFlow: false, deviceCode: '' });

interface Scripted {
  issuer: string;
  token: Reply;
  revoke: Reply;
  seen: { headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

async function scriptedProvider(methods: string[]): Promise<Scripted> {
  const p: Partial<Scripted> = { seen: [], token: bare(500), revoke: bare(503) };
  const srv: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = req.url ?? '';
    if (url === '/.well-known/openid-configuration') {
      return sendJson(res, 200, {
        issuer: p.issuer, token_endpoint: `${p.issuer}/token`, jwks_uri: `${p.issuer}/jwks`,
        revocation_endpoint: `${p.issuer}/revoke`, end_session_endpoint: `${p.issuer}/end_session`,
        token_endpoint_auth_methods_supported: methods, response_types_supported: ['code'],
      });
    }
    p.seen!.push({ headers: req.headers, body });
    if (url === '/token') return p.token!(req, res);
    if (url === '/revoke') return p.revoke!(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  p.issuer = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  p.close = () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); });
  return p as Scripted;
}

const bare = (status: number, headers: Record<string, string> = {}): Reply => (_req, res) => { res.writeHead(status, headers).end(); };
const tokens: Reply = (_req, res) => sendJson(res, 200, {
  access_token: 'at-1', token_type: 'bearer', expires_in: 600, refresh_token: 'rt-1', scope: 'openid',
});

describe('auth-oidc: what a provider answers, and client secrets', () => {
  let a: Scripted;
  let b: Scripted;
  let h: AuthHarness;
  before(async () => {
    a = await scriptedProvider(['client_secret_post']);
    b = await scriptedProvider(['client_secret_basic', 'client_secret_post']);
    h = await startAuthPlugin({ authServer: a.issuer, authClientId: 'vmr' }, {
      allowPasswordGrant: true, httpTimeoutSeconds: 1,
      clientSecret: SECRET, clientSecretIssuers: [a.issuer],
    });
  });
  after(async () => {
    await h?.close();
    await a?.close();
    await b?.close();
  });

  it('answers a bare 403 (no body) from the token endpoint with UNAUTHENTICATED', async () => {
    a.token = bare(403);
    await assert.rejects(h.auth.login(pw('frank', 'wrong'), h.ctx()), (e: CodedError) =>
      e.code === 'UNAUTHENTICATED' && /refused the password login for frank \(HTTP 403, no reason given\)/.test(e.message) && !/unreachable/.test(e.message));
    a.token = (_req, res) => { res.writeHead(401, { 'content-type': 'text/html' }).end('<html>denied</html>'); };
    await assert.rejects(h.auth.login(pw('frank', 'wrong'), h.ctx()), (e: CodedError) => e.code === 'UNAUTHENTICATED');
  });

  it('quotes the provider\'s reason from a challenge or a JSON body', async () => {
    a.token = bare(401, { 'www-authenticate': 'Basic realm="x", error="invalid_token", error_description="account locked"' });
    await assert.rejects(h.auth.login(pw('frank', 'x'), h.ctx()), (e: CodedError) =>
      e.code === 'UNAUTHENTICATED' && e.message.includes('invalid_token: account locked'));
    a.token = (_req, res) => sendJson(res, 403, { error: 'account_disabled', error_description: 'ask\nyour admin' });
    await assert.rejects(h.auth.login(pw('frank', 'x'), h.ctx()), (e: CodedError) =>
      e.code === 'UNAUTHENTICATED' && e.message.includes('account_disabled: ask your admin'));
    a.token = (_req, res) => sendJson(res, 400, { error: 'invalid_grant' });
    await assert.rejects(h.auth.login(pw('frank', 'x'), h.ctx()), (e: CodedError) =>
      e.code === 'UNAUTHENTICATED' && /wrong username or password/.test(e.message));
  });

  it('answers 5xx and a hung provider with UNAVAILABLE, and honours the call\'s cancel', async () => {
    a.token = (_req, res) => { res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway'); };
    await assert.rejects(h.auth.login(pw('frank', 'x'), h.ctx()), (e: CodedError) => e.code === 'UNAVAILABLE' && /502/.test(e.message));
    a.token = () => { /* never answers */ };
    await assert.rejects(h.auth.login(pw('frank', 'x'), h.ctx()), (e: CodedError) =>
      e.code === 'UNAVAILABLE' && /did not answer in time/.test(e.message));
    const ac = new AbortController();
    const p = h.auth.login(pw('frank', 'x'), h.ctx({}, ac.signal));
    setImmediate(() => ac.abort());
    await assert.rejects(p, (e: CodedError) => e.code === 'CANCELLED');
  });

  it('sends the secret as the discovery document asks (client_secret_post), and only to its own issuer', async () => {
    a.token = tokens;
    a.seen.length = 0;
    await h.auth.login(pw('frank', 'right'), h.ctx());
    const sent = a.seen.at(-1)!;
    assert.equal(new URLSearchParams(sent.body).get('client_secret'), SECRET);
    assert.equal(sent.headers.authorization, undefined);

    // A context pointed at another issuer (any socket user can do that) gets a public-client request.
    b.token = tokens;
    await h.auth.login(pw('frank', 'right'), h.ctx({ name: 'elsewhere', authServer: b.issuer }));
    for (const r of b.seen) {
      assert.ok(!r.body.includes(SECRET) && !JSON.stringify(r.headers).includes(Buffer.from(SECRET).toString('base64')));
      assert.equal(new URLSearchParams(r.body).get('client_secret'), null);
    }
  });

  it('keeps the end-session hint when revocation fails', async () => {
    a.token = tokens;
    a.revoke = bare(503);
    await h.auth.login(pw('frank', 'right'), h.ctx({ name: 'out' }));
    const out = await h.auth.logout('', h.ctx({ name: 'out' }));
    assert.match(out.message, /could not revoke/);
    assert.match(out.message, /\/end_session\?client_id=vmr/);
    assert.equal(await h.impl.store.raw(`session:out:${a.issuer}`), undefined);
  });

  it('never logs the secret', () => {
    for (const line of h.log.lines) assert.ok(!line.includes(SECRET), line.slice(0, 200));
  });

  it('refuses to start with a secret not bound to an issuer', async () => {
    await assert.rejects(startAuthPlugin({}, { clientSecret: SECRET }),
      (e: CodedError) => e.code === 'INVALID_ARGUMENT' && /clientSecretIssuers/.test(e.message) && !e.message.includes(SECRET));
    await assert.rejects(startAuthPlugin({}, { clients: [{ issuer: 'not a url', clientId: 'x', clientSecret: SECRET }] }),
      (e: CodedError & { field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === 'clients[0].issuer' && !e.message.includes(SECRET));
  });
});
