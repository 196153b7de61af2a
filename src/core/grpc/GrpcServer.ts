import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { unlink } from 'node:fs/promises';
import { loadVmProto, SERVICE_NAME } from './loadProto.js';
import { tuneFlowControl } from './flowControl.js';
import { prepareSocketPath, secureSocket } from './socket.js';
import { strictRequests } from './strictDecode.js';

export class GrpcServer {
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  private bound = false;

  constructor(handlers: grpc.UntypedServiceImplementation, opts: { maxMessageBytes: number }) {
    const pkgDef = loadVmProto();
    const pkg = grpc.loadPackageDefinition(pkgDef) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
    const service = pkg.vmregistry.v1.VMService.service;
    const missing = Object.keys(service).filter((m) => !handlers[m]);
    if (missing.length) throw new Error(`VMService methods without a handler: ${missing.join(', ')}`);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
    });
    this.server.addService(strictRequests(service, pkgDef), handlers);
    this.health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
    this.health.addToServer(this.server);
    new ReflectionService(pkgDef).addToServer(this.server);
  }

  async listen(socket: string, group: string): Promise<void> {
    await prepareSocketPath(socket);
    // The socket is born 0660 (umask 0117 during bind), so there is no moment with wider permissions.
    const old = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
      });
    } finally {
      process.umask(old);
    }
    this.bound = true;
    tuneFlowControl(this.server);
    await secureSocket(socket, group);
  }

  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', s);
    this.health.setStatus(SERVICE_NAME, s);
  }

  /** Stops accepting calls; the caller drains in-flight ones, then forceStop(). */
  shutdown(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }

  forceStop(): void {
    this.server.forceShutdown();
  }

  async removeSocket(socket: string): Promise<void> {
    if (this.bound) await unlink(socket).catch(() => undefined);
  }
}
