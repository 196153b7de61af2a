// A throwaway PostgreSQL cluster from Debian's `postgresql` package: initdb + pg_ctl as the postgres
// user (the server refuses to run as root) on a free port, with its socket in its own temp dir.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './freePort.js';

const pexec = promisify(execFile);

export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

async function pgBin(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('PostgreSQL is not installed (Debian package postgresql, see scripts/services/apt-packages.sh)');
  return path.join('/usr/lib/postgresql', versions[0]!, 'bin');
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = await pgBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-pg-'));
  const { stdout } = await pexec('id', ['-u', 'postgres']);
  const uid = Number(stdout.trim());
  const gid = Number((await pexec('id', ['-g', 'postgres'])).stdout.trim());
  await chmod(dir, 0o700);
  await chown(dir, uid, gid);
  const data = path.join(dir, 'data');
  const asPg = (cmd: string, args: string[]) => pexec('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { timeout: 120_000 });
  const port = await freePort();
  try {
    await asPg('initdb', ['-D', data, '--auth=trust', '--username=postgres', '--no-sync', '-E', 'UTF8']);
    await asPg('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start',
      '-o', `-p ${port} -k ${dir} -h 127.0.0.1 -c fsync=off`]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
