// Node builtins that only some commands use, loaded on first use instead of at every start: node:net (the
// daemon's socket; the CLI's HTTP/2 client is wire/h2connection.ts, as node:http2 with the tls and http
// modules it pulls in cost a fifth of a `vmr ps`) and node:child_process each cost more than the rest of
// `vmr --version` (issue 17). process.getBuiltinModule (Node >= 20.16) is synchronous and behaves the same
// unbundled and in the CommonJS bundle, where a static import would become a require at start.
export const net = (): typeof import('node:net') => process.getBuiltinModule('node:net');
export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
export const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');
