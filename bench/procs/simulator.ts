/*
 * The Azure OpenAI simulator in a process of its own, untraced, so that the client process
 * under measurement does only the client's work. argv: [latency ms]
 */
import { startSimulator } from '../../src/simulator/server.ts';
import { processHandlers, serveParent } from '../lib/child.ts';

const sim = await startSimulator({ host: '127.0.0.1', port: 0, latencyMs: Number(process.argv[2] ?? 0) });
serveParent({ ...processHandlers(), stats: () => sim.stats }, { url: sim.url });
