// Node builtins that only some commands use, loaded on first use instead of at every start: node:http2
// (with the net, tls and http modules it pulls in) and node:child_process each cost more than the rest of
// `vmr --version` (issue 17). process.getBuiltinModule (Node >= 20.16) is synchronous and behaves the same
// unbundled and in the CommonJS bundle, where a static import would become a require at start.
export const http2 = (): typeof import('node:http2') => process.getBuiltinModule('node:http2');
export const net = (): typeof import('node:net') => process.getBuiltinModule('node:net');
export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
export const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');
