// The test provider's login page: oidc-provider hands the browser to /interaction/<uid>; we show a
// username/password form, check it against the account store, and finish the interaction. (The built-in
// devInteractions accept any name without a password, which would make the device-flow test meaningless.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { AccountStore } from './accounts.js';
import { escapeHtml, readBody, sendHtml } from './http.js';

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

function loginForm(uid: string, error?: string): string {
  return page('Sign-in', `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="text" name="login" placeholder="username"/>
<input type="password" name="password" placeholder="password"/>
<button type="submit">Sign in</button>
</form>`);
}

export function interactionHandler(provider: Provider, accounts: AccountStore) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url ?? '');
    if (!m) return sendHtml(res, 404, page('Not found', ''));
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) return sendHtml(res, 400, page('Bad interaction', ''));
    if (details.prompt.name !== 'login') {
      // Consent is pre-granted by loadExistingGrant for our first-party client.
      return sendHtml(res, 400, page('Unexpected prompt', escapeHtml(details.prompt.name)));
    }
    if (req.method === 'GET') return sendHtml(res, 200, loginForm(details.uid));
    const form = new URLSearchParams(await readBody(req));
    const acc = accounts.verify(form.get('login') ?? '', form.get('password') ?? '');
    if (!acc) return sendHtml(res, 200, loginForm(details.uid, 'wrong username or password'));
    await provider.interactionFinished(req, res, { login: { accountId: acc.username } }, { mergeWithLastSubmission: false });
  };
}
