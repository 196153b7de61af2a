// Bearer tokens per (registry, service, scope set, credential): single-flight so that parallel blob
// transfers share one token request, renewed a little before expiry.

interface Entry { promise: Promise<string>; expiresAt: number; token?: string }

export interface TokenGrant { token: string; expiresInS: number }

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly skewMs = 10_000, private readonly now = () => Date.now()) {}

  get(key: string, fetch: () => Promise<TokenGrant>): Promise<string> {
    const e = this.entries.get(key);
    if (e && e.expiresAt > this.now()) return e.promise;
    const entry: Entry = { expiresAt: Number.POSITIVE_INFINITY, promise: Promise.resolve('') };
    entry.promise = fetch().then(
      (g) => {
        // Never cache for less than a second: a 0-second token would cause a fetch per request.
        entry.expiresAt = this.now() + Math.max(1000, g.expiresInS * 1000 - this.skewMs);
        entry.token = g.token;
        return g.token;
      },
      (err: unknown) => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, entry);
    return entry.promise;
  }

  /** Drops the entry if it still holds `token` (a rejected one); a newer token stays. */
  invalidate(key: string, token?: string): void {
    const e = this.entries.get(key);
    if (e && (token === undefined || e.token === token)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
