// A stand-in for vmregistryd: the real VMService contract on a temp Unix socket, canned answers, and a
// log of every request, so CLI tests can check both what was printed and what was sent.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { DaemonClient } from '../../../src/cli/client.js';
import { loadVmProto } from '../../../src/core/grpc/loadProto.js';

export type Unary = (request: any, call: grpc.ServerUnaryCall<any, any>) => unknown;
export type ServerStream = (request: any, call: grpc.ServerWritableStream<any, any>) => Promise<void> | void;
export type ClientStream = (call: grpc.ServerReadableStream<any, any>) => Promise<unknown>;
// Loose on purpose: a handler is unary, server-streaming or client-streaming depending on the method.
export type Handler = (...args: any[]) => any;

export interface RecordedCall {
  method: string;
  request: any;
}

export interface FakeDaemon {
  target: string;
  socketPath: string;
  calls: RecordedCall[];
  /** Replace a method's behaviour for the rest of the test. */
  handlers: Record<string, Handler>;
  /** Server-side 'cancelled' events seen, by method. */
  cancelled: string[];
  /** The last request of a method (throws when it was not called). */
  last(method: string): any;
  stop(): Promise<void>;
}

/** A gRPC status error as a handler would return it. */
export function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

const DIGEST = `sha256:${'a1b2c3d4e5f6'.repeat(5)}abcd`;
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

export const canned = {
  images: [
    { reference: 'localhost:5000/demo/debian:12', repository: 'localhost:5000/demo/debian', tag: '12', digest: DIGEST,
      size: '1234567890', created: minutesAgo(3), name: 'debian-12', description: 'Debian 12', author: 'ops',
      labels: { os: 'debian' }, diskFormat: 'qcow2', architecture: 'x86_64', diskSize: '21474836480', sourceFormat: 'containerdisk' },
    { reference: 'alpine:3.20', repository: 'alpine', tag: '3.20', digest: `sha256:${'f'.repeat(64)}`,
      size: '52428800', created: minutesAgo(60 * 50), name: 'alpine', description: '', author: '',
      labels: {}, diskFormat: 'raw', architecture: 'aarch64', diskSize: '1073741824', sourceFormat: 'vmregistry' },
  ],
  vms: [
    { vmId: '6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b', name: 'web', status: 'running', image: 'alpine:3.20',
      created: minutesAgo(10), memoryMb: 1024, vcpuCount: 2, imageDigest: DIGEST, ephemeral: false,
      labels: { team: 'web' }, composeProject: '', composeService: '' },
    { vmId: '0a0b0c0d-1111-2222-3333-444455556666', name: 'db', status: 'stopped', image: 'localhost:5000/demo/debian:12',
      created: minutesAgo(120), memoryMb: 512, vcpuCount: 1, imageDigest: DIGEST, ephemeral: true,
      labels: {}, composeProject: 'stack', composeService: 'db' },
  ],
  network: {
    name: 'default', uuid: '11111111-2222-3333-4444-555555555555', active: true, persistent: true, autostart: true,
    mode: 'nat', bridge: 'virbr0', subnet: '192.168.122.0/24', gateway: '192.168.122.1', dhcpStart: '192.168.122.2',
    dhcpEnd: '192.168.122.254', forwardDevice: '', domain: '', vmCount: 1, labels: {},
  },
  context: {
    name: 'default', description: 'local libvirt', registryUrl: '', authServer: '', authClientId: '',
    libvirtUri: 'qemu:///system', insecureRegistry: false, current: true, created: minutesAgo(60 * 24 * 3),
  },
  health: {
    status: 'SERVING', version: '9.9.9-fake', context: 'default',
    components: [
      { name: 'daemon', status: 'SERVING', message: 'up', latencyMs: '0', details: {}, plugin: '' },
      { name: 'registry', status: 'NOT_CONFIGURED', message: 'no registry in context', latencyMs: '1', details: {}, plugin: 'registry-oci' },
    ],
  },
};

const pullTotal = 300 * 1000 * 1000;

function defaults(fake: FakeDaemon): Record<string, Handler> {
  const composeStatus = (action: string) => [
    { service: 'db', vmName: 'stack-db-1', status: 'running', action, ipAddresses: ['10.42.0.10'], image: 'alpine:3.20' },
    { service: 'web', vmName: 'stack-web-1', status: 'running', action, ipAddresses: [], image: 'alpine:3.20' },
  ];
  return {
    HealthCheck: () => canned.health,
    Login: (req) => {
      if (req.deviceFlow) {
        return { verificationUri: 'https://id.example/device', verificationUriComplete: 'https://id.example/device?code=ABCD-EFGH',
          userCode: 'ABCD-EFGH', deviceCode: 'dev-123', interval: 1, pending: true };
      }
      if (req.deviceCode) {
        const polls = fake.calls.filter((c) => c.method === 'Login' && c.request.deviceCode).length;
        return polls < 2 ? { pending: true, interval: 1 } : { accessToken: 'tok', tokenType: 'Bearer', username: 'alice',
          server: 'https://id.example', expiresAt: '2030-01-01T00:00:00Z', message: 'logged in' };
      }
      if (req.password !== 's3cret') throw status(grpc.status.UNAUTHENTICATED, 'invalid user name or password');
      return { accessToken: 'tok', tokenType: 'Bearer', username: req.username, server: 'https://id.example',
        expiresAt: '2030-01-01T00:00:00Z', message: 'logged in' };
    },
    Logout: () => ({ message: 'Logged out of https://id.example' }),
    Register: (req) => ({ userId: 'u-1', username: req.username, message: 'welcome' }),
    ListLocalImages: () => ({ images: canned.images }),
    DeleteImage: (req) => {
      if (req.reference === 'missing:1') throw status(grpc.status.NOT_FOUND, 'image "missing:1" not found locally; check "vmr images"');
      return { untagged: [req.reference], deleted: [DIGEST] };
    },
    TagImage: (req) => ({ reference: req.target, digest: DIGEST }),
    GetImageManifest: () => ({ digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      manifestJson: JSON.stringify({ schemaVersion: 2 }), configJson: JSON.stringify({ kind: 'VMFile' }) }),
    ValidateVMFile: (req) => (req.content.includes('bad')
      ? { valid: false, errors: [{ path: 'spec.disk.format', message: 'must be qcow2 or raw', line: 7 }], warnings: [] }
      : { valid: true, errors: [], warnings: [] }),
    GarbageCollect: (req) => ({ removedBlobs: [DIGEST], removedManifests: [], freedBytes: req.dryRun ? '0' : '2048000' }),
    PullImage: (req) => ({ reference: req.reference, digest: DIGEST, size: String(pullTotal), message: 'pulled', transferred: '1000' }),
    PushImage: (req) => ({ reference: req.destination || req.reference, digest: DIGEST, size: '1000', transferred: '1000', message: '' }),
    ExportImage: (req) => ({ outputPath: req.outputPath, digest: DIGEST, size: '1000' }),
    ImportImage: (req) => ({ reference: req.reference || `${req.vmfile.metadata.name}:latest`, digest: DIGEST, size: String(req.diskData.length) }),
    PullImageWithProgress: async (req, call) => {
      if (req.reference === 'missing:1') throw status(grpc.status.NOT_FOUND, 'manifest unknown: missing:1');
      for (let i = 1; i <= 3; i++) {
        call.write({ progress: { phase: 'download', item: DIGEST, current: String((pullTotal / 3) * i), total: String(pullTotal), unit: 'bytes', message: '' } });
      }
      call.write({ pull: { reference: `localhost:5000/${req.reference}`, digest: DIGEST, size: String(pullTotal), message: 'Downloaded newer image', transferred: String(pullTotal) } });
    },
    PushImageWithProgress: async (req, call) => {
      call.write({ progress: { phase: 'upload', item: 'disk', current: '500', total: '1000', unit: 'bytes', message: '' } });
      call.write({ push: { reference: req.destination || req.reference, digest: DIGEST, size: '1000', transferred: '500', message: '' } });
    },
    ExportImageWithProgress: async (req, call) => {
      call.write({ progress: { phase: 'export', item: '', current: '1', total: '2', unit: 'items', message: '' } });
      call.write({ export: { outputPath: req.outputPath, digest: DIGEST, size: '4096' } });
    },
    ImportImageFile: async (req, call) => {
      call.write({ progress: { phase: 'import', item: path.basename(req.vmfilePath), current: '10', total: '10', unit: 'bytes', message: '' } });
      call.write({ import: { reference: req.reference || 'from-daemon:latest', digest: DIGEST, size: '10' } });
    },
    ImportImageStream: (call: grpc.ServerReadableStream<any, any>) => new Promise((resolve, reject) => {
      let header: any;
      const hash = createHash('sha256');
      let bytes = 0;
      let chunks = 0;
      let maxChunk = 0;
      const zeroRuns: number[] = [];
      call.on('data', (msg: any) => {
        if (msg.header) header = msg.header;
        else if (msg.chunk) {
          hash.update(msg.chunk);
          bytes += msg.chunk.length;
          chunks++;
          maxChunk = Math.max(maxChunk, msg.chunk.length);
        } else if (msg.payload === 'zeros') {
          const n = Number(msg.zeros);
          hash.update(Buffer.alloc(n));
          bytes += n;
          zeroRuns.push(n);
        }
      });
      call.on('end', () => {
        const sha = hash.digest('hex');
        fake.calls.push({ method: 'ImportImageStream', request: { header, bytes, chunks, maxChunk, zeroRuns, sha256: sha } });
        if (!header) return reject(status(grpc.status.INVALID_ARGUMENT, 'first message must be the header'));
        if (String(bytes) !== header.totalSize) return reject(status(grpc.status.INVALID_ARGUMENT, `got ${bytes} bytes, header said ${header.totalSize}`));
        if (header.sha256 && header.sha256 !== sha) return reject(status(grpc.status.DATA_LOSS, 'sha256 mismatch'));
        resolve({ reference: header.reference || `${header.vmfile.metadata.name}:latest`, digest: `sha256:${sha}`, size: String(bytes) });
      });
    }),
    ContextCreate: (req) => ({ context: { ...canned.context, ...req.context, current: req.use }, message: 'created' }),
    ContextUpdate: (req) => ({ context: { ...canned.context, ...req.context }, message: 'updated' }),
    ContextUse: (req) => {
      if (req.name === 'nope') throw status(grpc.status.NOT_FOUND, 'context "nope" not found; see "vmr context ls"');
      return { context: { ...canned.context, name: req.name }, message: '' };
    },
    ContextList: () => ({ contexts: [canned.context, { ...canned.context, name: 'lab', current: false, registryUrl: 'localhost:5000' }], current: 'default' }),
    ContextRemove: (req) => ({ context: { ...canned.context, name: req.name }, message: 'removed' }),
    ContextCurrent: () => ({ context: canned.context }),
    RunVM: (req) => ({ vmId: '6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b', name: req.name || 'brave-turing', status: 'running',
      message: 'started', ipAddresses: req.options.waitForIp ? ['192.168.122.50'] : [] }),
    StartVM: (req) => ({ vmId: 'id-' + req.vm, status: 'running', message: '' }),
    StopVM: (req) => {
      if (req.vm === 'ghost') throw status(grpc.status.NOT_FOUND, 'VM "ghost" not found');
      return { vmId: 'id-' + req.vm, status: 'stopped', message: '' };
    },
    RestartVM: (req) => ({ vmId: 'id-' + req.vm, status: 'running', message: '' }),
    DeleteVM: (req) => {
      if (req.vm === 'web' && !req.force) throw status(grpc.status.FAILED_PRECONDITION, 'VM "web" is running; stop it first or use --force');
      return { vmId: 'id-' + req.vm, message: 'removed' };
    },
    PsVMs: () => ({ vms: [{ vmId: canned.vms[0].vmId, name: 'web', status: 'running', image: 'alpine:3.20', created: minutesAgo(10),
      uptime: '10m2s', networks: [{ name: 'default', mac: '52:54:00:00:00:01', interfaceType: 'network', ipAddresses: ['192.168.122.50'] }],
      memoryMb: 1024, vcpuCount: 2, labels: { team: 'web' } }] }),
    ListVMs: () => ({ vms: canned.vms }),
    NetworkList: () => ({ networks: [canned.network, { ...canned.network, name: 'backend', uuid: '99999999-0000-0000-0000-000000000000', active: false, subnet: '10.42.0.0/24', vmCount: 0 }] }),
    NetworkGet: (req) => {
      if (req.name !== 'default') throw status(grpc.status.NOT_FOUND, `network "${req.name}" not found`);
      return { network: canned.network };
    },
    NetworkCreate: (req) => ({ network: { ...canned.network, name: req.name, subnet: req.subnet }, message: 'created' }),
    NetworkActivate: (req) => ({ network: { ...canned.network, name: req.name }, message: '' }),
    NetworkDeactivate: (req) => {
      if (!req.force) throw status(grpc.status.FAILED_PRECONDITION, `network "${req.name}" is used by running VMs: web`);
      return { network: { ...canned.network, name: req.name, active: false }, message: '' };
    },
    NetworkDelete: () => ({ message: 'deleted' }),
    ComposeUp: (req) => ({ project: req.projectName || 'stack', services: composeStatus('created') }),
    ComposeDown: (req) => ({ project: req.projectName, services: composeStatus('removed'), removedNetworks: req.removeNetworks ? ['stack-backend'] : [] }),
    ComposePs: (req) => ({ project: req.projectName, services: composeStatus('') }),
    ComposeRestart: (req) => ({ project: req.projectName, services: composeStatus('restarted') }),
    ComposeValidate: (req) => (req.content.includes('cycle')
      ? { valid: false, errors: [{ path: 'services.web.depends_on', message: 'dependency cycle web -> db -> web', line: 4 }], warnings: [], services: [], project: 'stack' }
      : { valid: true, errors: [], warnings: [{ path: 'services.web.image', message: 'image not local', line: 9 }], services: ['db', 'web'], project: req.projectName || 'stack' }),
  };
}

export async function startFakeDaemon(): Promise<FakeDaemon> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-cli-'));
  const socketPath = path.join(dir, 'vmregistry.sock');
  const server = new grpc.Server();
  const fake: FakeDaemon = {
    target: `unix://${socketPath}`,
    socketPath,
    calls: [],
    handlers: {},
    cancelled: [],
    last(method) {
      const found = [...this.calls].reverse().find((c) => c.method === method);
      if (!found) throw new Error(`${method} was not called; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      return found.request;
    },
    async stop() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  fake.handlers = defaults(fake);
  const pkg = grpc.loadPackageDefinition(loadVmProto()) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
  const service = pkg.vmregistry.v1.VMService.service;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(service)) {
    const handler = (): Handler => fake.handlers[name] ?? (() => { throw status(grpc.status.UNIMPLEMENTED, `${name} not in fake`); });
    if (def.requestStream) {
      impl[name] = (call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<any>) => {
        call.on('cancelled', () => fake.cancelled.push(name));
        Promise.resolve().then(() => (handler() as ClientStream)(call)).then((r) => cb(null, r as any), (e) => cb(e));
      };
    } else if (def.responseStream) {
      impl[name] = (call: grpc.ServerWritableStream<any, any>) => {
        fake.calls.push({ method: name, request: call.request });
        call.on('cancelled', () => fake.cancelled.push(name));
        Promise.resolve().then(() => (handler() as ServerStream)(call.request, call))
          .then(() => call.end(), (e) => call.emit('error', e));
      };
    } else {
      impl[name] = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        fake.calls.push({ method: name, request: call.request });
        call.on('cancelled', () => fake.cancelled.push(name));
        Promise.resolve().then(() => (handler() as Unary)(call.request, call)).then((r) => cb(null, r as any), (e) => cb(e));
      };
    }
  }
  server.addService(service, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(fake.target, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return fake;
}

/** A fake daemon and a DaemonClient on it for the enclosing describe: started before its tests, stopped after. */
export function fakeDaemonClient(): { readonly fake: FakeDaemon; readonly client: DaemonClient } {
  const d = {} as { fake: FakeDaemon; client: DaemonClient };
  before(async () => {
    d.fake = await startFakeDaemon();
    d.client = new DaemonClient({ target: d.fake.target, socketPath: d.fake.socketPath });
  });
  after(async () => {
    d.client?.close();
    await d.fake?.stop();
  });
  return d;
}
