/*
 * The Memento MCP server over HTTP, started exactly as `memento serve` starts it (telemetry
 * from the OTEL_* environment first, then the server), plus an IPC channel through which the
 * coordinator reads this process's CPU time and memory. With OTEL_SDK_DISABLED=false it
 * exports real spans over OTLP to the benchmark's collector.
 *
 * argv: <data dir> [port] [JSON of more startHttpServer options, e.g. {"maxSessions": 20000}]
 */
import { startTelemetry } from '../../src/telemetry/setup.ts';

const telemetry = startTelemetry('server');
// Imported only now, as the CLI does, so the SDK's instrumentations are in place first.
const { startHttpServer } = await import('../../src/server/index.ts');
const { processHandlers, serveParent } = await import('../lib/child.ts');

const server = await startHttpServer({
  dataDir: process.argv[2]!,
  port: Number(process.argv[3] ?? 0),
  defaultUser: 'bench',
  // The PostgreSQL backend and stateless mode, for the storage benchmark's replicas.
  storeUrl: process.env.MEMENTO_STORE_URL || undefined,
  stateless: process.env.MEMENTO_BENCH_STATELESS === '1',
  ...(process.argv[4] ? JSON.parse(process.argv[4]) : {}),
});
process.on('SIGTERM', () => {
  void server.close().finally(() => telemetry.shutdown().finally(() => process.exit(0)));
});

serveParent(
  {
    ...processHandlers(),
    sessions: () => server.sessionCount(),
    storageStarted: () => server.storageStarted(),
    flush: () => telemetry.forceFlush(),
  },
  { url: server.url, traced: telemetry.enabled },
);
