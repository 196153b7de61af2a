// A keyv storage adapter on better-sqlite3 (@keyv/sqlite needs the `sqlite3` native package, which
// would be a second SQLite build). Synchronous SQLite calls are fine here: they are tiny and local.
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export class SqliteKeyvStore extends EventEmitter {
  readonly opts: { dialect: 'sqlite'; url: string };
  namespace?: string;
  private readonly db: Database.Database;

  constructor(file: string) {
    super();
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS keyv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.opts = { dialect: 'sqlite', url: `sqlite://${file}` };
  }

  async get(key: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT value FROM keyv WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  async getMany(keys: string[]): Promise<Array<string | undefined>> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async set(key: string, value: string): Promise<boolean> {
    this.db.prepare('INSERT INTO keyv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM keyv WHERE key = ?').run(key).changes > 0;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    let any = false;
    for (const k of keys) any = (await this.delete(k)) || any;
    return any;
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async clear(): Promise<void> {
    if (this.namespace) this.db.prepare('DELETE FROM keyv WHERE key LIKE ?').run(`${escapeLike(this.namespace)}:%`);
    else this.db.exec('DELETE FROM keyv');
  }

  async *iterator(namespace?: string): AsyncGenerator<[string, string]> {
    const rows = (namespace
      ? this.db.prepare("SELECT key, value FROM keyv WHERE key LIKE ? ESCAPE '\\' ORDER BY key").all(`${escapeLike(namespace)}:%`)
      : this.db.prepare('SELECT key, value FROM keyv ORDER BY key').all()) as Array<{ key: string; value: string }>;
    for (const r of rows) yield [r.key, r.value];
  }

  async disconnect(): Promise<void> {
    this.db.close();
  }
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
