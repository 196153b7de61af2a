import { pino } from 'pino';
import type { Logger } from '../ports/common.js';

// Secrets never reach the log, whatever a plugin passes in.
const REDACT = ['password', 'accessToken', 'refreshToken', 'idToken', 'token', 'authorization', 'diskData', 'chunk',
  '*.password', '*.accessToken', '*.refreshToken', '*.idToken', '*.token', '*.authorization'];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.VMR_LOG_LEVEL ?? 'info';
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { svc: 'vmregistryd' } },
    opts.destination ?? pino.destination(2)) as unknown as Logger;
}

export { silentLogger } from './silentLogger.js';
