// gRPC status codes by number (the CLI speaks the wire itself; see channel.ts).
export const Status = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
} as const;

const names = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k])) as Record<number, string>;

export function statusName(code: number): string {
  return names[code] ?? `CODE_${code}`;
}

/** A call that ended with a non-OK status: the shape grpc-js gives its callers (code, details, metadata). */
export class ServiceError extends Error {
  constructor(readonly code: number, readonly details: string, readonly metadata: Record<string, string | Buffer> = {}) {
    super(`${code} ${statusName(code)}: ${details}`);
  }
}
