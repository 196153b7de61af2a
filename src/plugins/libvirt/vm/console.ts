// The serial console, served by the daemon so a client that cannot read the daemon's files (or is
// on another machine) still gets it: the log file libvirt appends the console to (`vmr logs`), and
// the pty QEMU exposes it on (`vmr console`). The pty is opened here, on the daemon's host; QEMU
// set it to raw mode when it created it, so bytes pass unchanged both ways.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import tty from 'node:tty';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CancelledError, type ConsoleSession, FailedPreconditionError, fromSystemError, type LogOptions, NotFoundError,
} from '../../../plugin-api/index.js';

const CHUNK = 64 * 1024;
const POLL_MS = 250;
/** How often a follower asks whether the VM still runs (it stops following once it does not). */
const RUNNING_CHECK_MS = 2000;
/** --tail reads at most this much from the end, however long the lines are. */
const TAIL_MAX_BYTES = 8 * 1024 * 1024;

/** Byte offset where the last `lines` lines of the file start. */
export async function tailOffset(fh: fsp.FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return 0;
  let pos = size;
  let seen = 0;
  const buf = Buffer.alloc(CHUNK);
  // A final line without a newline counts as a line; a trailing newline does not start one.
  let skipTrailing = true;
  while (pos > 0 && size - pos < TAIL_MAX_BYTES) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    await fh.read(buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipTrailing = false;
        continue;
      }
      if (skipTrailing) {
        skipTrailing = false;
        continue;
      }
      if (++seen === lines) return pos + i + 1;
    }
  }
  return Math.max(0, size - TAIL_MAX_BYTES, pos);
}

/**
 * The console log from the start (or its last `tailLines` lines), then with `follow` whatever is
 * appended, until the signal fires or `running()` says the VM stopped (after a final read).
 */
export async function* readConsoleLog(
  file: string,
  opts: LogOptions,
  running: () => Promise<boolean>,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  let fh: fsp.FileHandle | undefined;
  try {
    let pos = -1;
    let lastCheck = Date.now();
    for (;;) {
      if (signal.aborted) throw new CancelledError('stopped following the console log', { cause: signal.reason });
      if (!fh) {
        try {
          fh = await fsp.open(file, 'r');
        } catch (err) {
          // No output yet (the VM never started since it was created).
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(err, `read the console log ${file}`);
          if (!opts.follow) return;
        }
      }
      if (fh) {
        const size = (await fh.stat()).size;
        if (pos < 0) pos = await tailOffset(fh, size, opts.tailLines);
        if (size < pos) pos = 0; // replaced or truncated: start over
        while (pos < size) {
          const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      }
      if (!opts.follow) return;
      if (Date.now() - lastCheck >= RUNNING_CHECK_MS) {
        lastCheck = Date.now();
        if (!(await running())) {
          // One last read for what the guest printed while powering off.
          opts = { ...opts, follow: false };
          continue;
        }
      }
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await fh?.close();
  }
}

/** pty paths with a console attached through this daemon: one session at a time, like libvirt's. */
const attached = new Set<string>();

/** Opens the console pty for reading and writing. */
export function openPtyConsole(ptyPath: string, vm: string): ConsoleSession {
  if (!/^\/dev\/pts\/\d+$/.test(ptyPath)) {
    throw new FailedPreconditionError(`VM "${vm}" has no console pty (its serial port is ${ptyPath || 'not a pty'})`);
  }
  if (attached.has(ptyPath)) {
    throw new FailedPreconditionError(`a console session to VM "${vm}" is already attached; detach it first (Ctrl-])`);
  }
  let rfd: number | undefined;
  let wfd: number | undefined;
  try {
    // O_NOCTTY: the pty must never become the daemon's controlling terminal.
    rfd = fs.openSync(ptyPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    wfd = fs.openSync(ptyPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  } catch (err) {
    for (const fd of [rfd, wfd]) if (fd !== undefined) fs.closeSync(fd);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`the console pty of VM "${vm}" is gone (did it stop?)`);
    throw fromSystemError(err, `open the console of VM "${vm}"`);
  }
  const input = new tty.ReadStream(rfd);
  const output = new tty.WriteStream(wfd);
  input.setRawMode(true);
  attached.add(ptyPath);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    attached.delete(ptyPath);
    input.destroy();
    output.destroy();
  };
  // EIO when QEMU closes its side (the VM stopped): the session simply ends.
  input.on('error', () => close());
  output.on('error', () => close());
  input.on('close', () => close());
  return {
    output: (async function* () {
      try {
        for await (const chunk of input) yield chunk as Buffer;
      } catch {
        // Read errors end the session like an EOF.
      } finally {
        close();
      }
    })(),
    write: (data) => {
      if (!closed) output.write(data);
    },
    close,
  };
}
