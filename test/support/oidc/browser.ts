// Plays the user's browser for the device flow: opens verification_uri_complete, submits the forms it is
// shown (the auto-posting code form, the confirm form, the login form with the user's password) with a
// cookie jar and manual redirects, until the provider says the sign-in succeeded.
const MAX_STEPS = 12;

interface Page {
  url: string;
  status: number;
  html: string;
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

export class FakeBrowser {
  private readonly cookies = new Map<string, string>();

  async get(url: string): Promise<Page> {
    return this.request(url, { method: 'GET' });
  }

  async submit(page: Page, overrides: Record<string, string> = {}): Promise<Page> {
    const form = firstForm(page.html);
    if (!form) throw new Error(`no form on ${page.url} (status ${page.status}): ${page.html.slice(0, 300)}`);
    const fields: Record<string, string> = { ...form.fields };
    for (const [k, v] of Object.entries(overrides)) if (k in fields) fields[k] = v;
    return this.request(new URL(form.action, page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  private async request(url: string, init: RequestInit): Promise<Page> {
    let current = url;
    let req = init;
    for (let hops = 0; hops < 10; hops++) {
      const res = await fetch(current, { ...req, redirect: 'manual', headers: { ...(req.headers ?? {}), cookie: this.cookieHeader() } });
      this.store(res);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        current = new URL(location, current).href;
        req = { method: 'GET' };
        continue;
      }
      return { url: current, status: res.status, html: await res.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()) ||
        attrs.some((a) => /^\s*max-age=0/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** Completes a device authorization as `username`; resolves with the final page's HTML. */
export async function approveDevice(verificationUriComplete: string, username: string, password: string): Promise<string> {
  const browser = new FakeBrowser();
  let page = await browser.get(verificationUriComplete);
  for (let step = 0; step < MAX_STEPS; step++) {
    if (/Sign-in Success/i.test(page.html)) return page.html;
    if (/wrong username or password/i.test(page.html)) throw new Error('the provider rejected the password');
    page = await browser.submit(page, { login: username, password });
  }
  throw new Error(`device approval did not finish: ${page.html.slice(0, 300)}`);
}

function firstForm(html: string): Form | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const action = attr(m[1], 'action') ?? '';
  const fields: Record<string, string> = {};
  for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = attr(input[1], 'name');
    if (name) fields[name] = attr(input[1], 'value') ?? '';
  }
  return { action: unescape(action), fields };
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
  return m ? unescape(m[1]) : undefined;
}

const unescape = (s: string) =>
  s.replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
