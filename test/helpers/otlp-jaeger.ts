/*
 * The in-repo stand-in for "collector → Jaeger": takes OTLP/HTTP JSON exports on /v1/traces
 * and /v1/metrics, as the collector does, and answers Jaeger v2's api_v3 GET
 * /api/v3/traces/{id} from what it received, in Jaeger's shapes ({"result": TracesData}, a
 * 404 with Jaeger's error body for a trace it does not have). Used until a test can start
 * the real stack.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type ResourceSpans = { resource?: unknown; scopeSpans?: { scope?: unknown; spans?: { traceId?: string }[] }[] };

/** Serves `server` on a free loopback port; returns its base URL (both Jaeger stand-ins start so). */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes `server` now, cutting kept-alive connections rather than waiting for them. */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export class OtlpJaeger {
  private readonly batches: ResourceSpans[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (req.method === 'POST' && (url.pathname === '/v1/traces' || url.pathname === '/v1/metrics')) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
            if (url.pathname === '/v1/traces') this.batches.push(...(body.resourceSpans ?? []));
            res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          } catch {
            res.writeHead(400).end();
          }
          return;
        }
        const byId = /^\/api\/v3\/traces\/([0-9a-f]{32})$/.exec(url.pathname);
        if (req.method === 'GET' && byId) {
          const resourceSpans = this.batches
            .map((rs) => ({ ...rs, scopeSpans: (rs.scopeSpans ?? []).map((ss) => ({ ...ss, spans: (ss.spans ?? []).filter((s) => s.traceId === byId[1]) })) }))
            .filter((rs) => rs.scopeSpans.some((ss) => ss.spans.length));
          if (!resourceSpans.length) {
            res.writeHead(404, { 'content-type': 'text/plain' }).end(JSON.stringify({ error: { httpCode: 404, message: 'trace not found' } }) + '\n');
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { resourceSpans } }));
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      });
    });
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }
}
