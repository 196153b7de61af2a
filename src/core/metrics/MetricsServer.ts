// GET /metrics over plain HTTP (node:http). Loopback by default: the endpoint has no authentication,
// and config loading refuses a non-loopback address unless metrics.allowRemote is set.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../ports/common.js';
import { parseListen } from '../config/DaemonConfig.js';
import type { DaemonMetrics } from './DaemonMetrics.js';

export class MetricsServer {
  private constructor(private readonly server: http.Server, readonly url: string) {}

  static async listen(listen: string, metrics: DaemonMetrics, log: Logger): Promise<MetricsServer> {
    const { host, port } = parseListen(listen);
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics\n');
        return;
      }
      metrics.render().then((body) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body);
      }, (err: unknown) => {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics scrape failed (see the daemon log)\n');
      });
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new UnavailableError(`cannot listen for metrics on ${listen}: ${err.message} (change metrics.listen)`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
    log.info({ url }, 'metrics endpoint listening');
    return new MetricsServer(server, url);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
