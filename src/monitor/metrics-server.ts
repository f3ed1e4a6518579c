/**
 * The metricsListen HTTP listener (SPEC §8): `GET /metrics` (Prometheus text format) and
 * `GET /healthz` (200 `ok`, or 503 and a one-line reason). HEAD is served as GET without a body;
 * any other method answers 405, any other path 404. No request body is ever read (a request that
 * has one gets its answer, then the connection is closed), headers are capped at 8 KiB, slow
 * requests time out, and every answer is either the metrics or a short fixed text: never a user
 * name, an address or a host path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ListenAddress } from '../util/listen-address.js';

/** What the listener serves. */
export interface MetricsHandlers {
  /** The metrics in the text format. */
  metrics(): Promise<string>;
  /** Content-Type of the metrics (prom-client's registry.contentType). */
  contentType: string;
  /** null when healthy, else a one-line reason (fixed text, no user data). */
  health(): Promise<string | null> | string | null;
}

/** A running listener. */
export interface MetricsServer {
  address: ListenAddress;
  close(): Promise<void>;
}

/** Connections the listener holds at once (scrapers and load balancer probes). */
const MAX_CONNECTIONS = 64;

/** Starts listening; resolves once it accepts connections. */
export function startMetricsServer(at: ListenAddress, handlers: MetricsHandlers): Promise<MetricsServer> {
  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
    void answer(req, res, handlers);
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const a = server.address();
      const address = typeof a === 'object' && a ? { host: a.address, port: a.port } : at;
      resolve({ address, close: () => closeServer(server) });
    });
  });
}

async function answer(req: IncomingMessage, res: ServerResponse, handlers: MetricsHandlers): Promise<void> {
  // The body is never read: a request carrying one ends its connection after the answer.
  if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') res.shouldKeepAlive = false;
  if (req.headers['transfer-encoding'] !== undefined) res.shouldKeepAlive = false;
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') return send(req, res, 404, 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(req, res, 405, 'method not allowed\n');
  }
  try {
    if (path === '/metrics') return send(req, res, 200, await handlers.metrics(), handlers.contentType);
    const reason = await handlers.health();
    return reason === null ? send(req, res, 200, 'ok\n') : send(req, res, 503, `${oneLine(reason)}\n`);
  } catch {
    return send(req, res, 503, path === '/healthz' ? 'health check failed\n' : 'metrics unavailable\n');
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** At most 200 characters, no line breaks. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
