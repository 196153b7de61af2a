// A minimal SCIM 2.0 Users endpoint (RFC 7644 §3.3, create only) writing into the test provider's
// account store, with a bearer token and a password policy, so Register can be tested end to end.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { passwordProblem, type AccountStore } from './accounts.js';
import { readBody, sendJson } from './http.js';

const SCIM = 'application/scim+json';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

export function scimHandler(accounts: AccountStore, token: string, basePath: string, baseUrl: () => string) {
  const err = (res: ServerResponse, status: number, detail: string, scimType?: string) =>
    sendJson(res, status, { schemas: [ERROR_SCHEMA], status: String(status), scimType, detail }, SCIM);

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.headers.authorization !== `Bearer ${token}`) return err(res, 401, 'invalid or missing bearer token');
    if (req.method !== 'POST' || req.url !== `${basePath}/Users`) return err(res, 404, 'not found');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    } catch {
      return err(res, 400, 'body is not JSON', 'invalidSyntax');
    }
    if (!Array.isArray(body.schemas) || !body.schemas.includes(USER_SCHEMA)) {
      return err(res, 400, `schemas must include ${USER_SCHEMA}`, 'invalidValue');
    }
    const userName = typeof body.userName === 'string' ? body.userName : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!/^[a-z][a-z0-9._-]{1,31}$/.test(userName)) return err(res, 400, 'userName is invalid', 'invalidValue');
    if (accounts.has(userName)) return err(res, 409, `userName ${userName} is already taken`, 'uniqueness');
    const weak = passwordProblem(password);
    if (weak) return err(res, 400, weak, 'invalidValue');
    const emails = Array.isArray(body.emails) ? (body.emails as Array<{ value?: string }>) : [];
    const acc = accounts.add(userName, password, {
      email: emails[0]?.value,
      displayName: typeof body.displayName === 'string' ? body.displayName : undefined,
    });
    const location = `${baseUrl()}${basePath}/Users/${acc.id}`;
    res.setHeader('location', location);
    // The password is write-only in SCIM: never echoed back.
    sendJson(res, 201, {
      schemas: [USER_SCHEMA],
      id: acc.id,
      userName: acc.username,
      displayName: acc.displayName,
      emails: [{ value: acc.email, primary: true }],
      active: true,
      meta: { resourceType: 'User', location },
    }, SCIM);
  };
}
