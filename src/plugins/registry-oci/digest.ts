import { DataLossError, sha256Of } from '../../plugin-api/index.js';

export const sha256 = sha256Of;

/** Throws DATA_LOSS unless `bytes` hash to `expected` (only sha256 is supported). */
export function verifyBytes(bytes: Buffer, expected: string, what: string): void {
  if (!expected.startsWith('sha256:')) throw new DataLossError(`${what}: unsupported digest algorithm in "${expected}"`);
  const got = sha256(bytes);
  if (got !== expected) throw new DataLossError(`${what}: digest mismatch, expected ${expected} but got ${got}; the registry served corrupt data`);
}
