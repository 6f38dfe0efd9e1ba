/*
 * A real OTLP/HTTP receiver standing in for the collector: every exporter under test POSTs
 * its JSON bodies here as it would to a collector, so tracing does its full work (batching,
 * encoding, HTTP), and this process counts what arrived per service and benchmark mode. It
 * is a process of its own so that parsing the exports costs none of the measured processes
 * anything. (test/helpers/otlp-receiver.ts keeps every span for assertions; a benchmark that
 * exports hundreds of thousands of spans only needs the counts.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { processHandlers, serveParent } from '../lib/child.ts';

type KeyValue = { key: string; value: { stringValue?: string } };

const counts = new Map<string, number>();
let requests = 0;
let bytes = 0;

function attribute(attrs: KeyValue[] | undefined, key: string): string {
  return attrs?.find((a) => a.key === key)?.value.stringValue ?? '';
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    requests++;
    const body = Buffer.concat(chunks);
    bytes += body.length;
    try {
      const json = JSON.parse(body.toString('utf8')) as {
        resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: unknown[] }[] }[];
      };
      for (const rs of json.resourceSpans ?? []) {
        const key = `${attribute(rs.resource?.attributes, 'service.name')}/${attribute(rs.resource?.attributes, 'bench.mode')}`;
        let n = 0;
        for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
        counts.set(key, (counts.get(key) ?? 0) + n);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch {
      res.writeHead(400).end();
    }
  });
});
// The exporters keep their connection: a client under valgrind notices a close long after
// Node's 5 s default would have made it, and would send an export onto a closed socket.
server.keepAliveTimeout = 3_600_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serveParent(
  {
    ...processHandlers(),
    counts: () => ({ spans: Object.fromEntries(counts), requests, bytes }),
    reset: () => {
      counts.clear();
      requests = 0;
      bytes = 0;
    },
  },
  { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
);
