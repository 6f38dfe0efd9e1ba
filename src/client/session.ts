/*
 * A client session: the model, the MCP connection and the agent, built from the environment
 * (src/config.ts) and shared by `memento chat` and `memento ask`. The session assembles the
 * parts: with no model settings it starts the built-in simulator and points the model client
 * at it, as it would at Azure. Nothing connects to the MCP server here: it is reached inside
 * the first turn, so that connecting is part of a trace.
 */
import { ConfigError, mcpSettings, modelSettings, SETTINGS, setting, type ModelSettings } from '../config.ts';
import { registerSecret, registerUrlSecrets } from '../log.ts';
import { Agent, type ToolBounds } from './agent.ts';
import { History } from './history.ts';
import { historyStoreFromEnv } from './history/settings.ts';
import { agentFetch, createAgent, type Exchange } from './http.ts';
import { McpConnection } from './mcp.ts';
import { Model } from './model.ts';

export interface SessionOptions {
  env?: NodeJS.ProcessEnv;
  /** Called for every completed HTTP exchange (`--traffic`). */
  onExchange?: (exchange: Exchange) => void;
  /** Continue each user's stored conversation (chat, `ask --continue`) rather than start a new one. */
  resume?: boolean;
}

export class Session {
  readonly agent: Agent;
  readonly model: Model;
  readonly mcp: McpConnection;
  /** The MCP server is our own child process (no MEMENTO_MCP_URL): its spans land in our trace file. */
  readonly ownServer: boolean;
  private readonly stop: () => Promise<void>;

  private constructor(agent: Agent, model: Model, mcp: McpConnection, ownServer: boolean, stop: () => Promise<void>) {
    this.agent = agent;
    this.model = model;
    this.mcp = mcp;
    this.ownServer = ownServer;
    this.stop = stop;
  }

  static async open(options: SessionOptions = {}): Promise<Session> {
    const env = options.env ?? process.env;
    let settings: ModelSettings = modelSettings(env);
    const mcp = mcpSettings(env);
    registerSecret(settings.apiKey);
    registerSecret(mcp.token);
    // Credentials written into the URLs themselves (user:password@, ?api-key=…) are secrets too.
    registerUrlSecrets(settings.endpoint);
    registerUrlSecrets(mcp.url);
    const timeoutMs = setting(SETTINGS.modelTimeoutMs, env);
    const maxRetries = setting(SETTINGS.modelMaxRetries, env);
    const mcpTimeoutMs = setting(SETTINGS.mcpTimeoutMs, env);
    const stream = setting(SETTINGS.stream, env);
    const idleTimeoutMs = setting(SETTINGS.modelIdleTimeoutMs, env);
    const maxAnswerBytes = setting(SETTINGS.modelMaxAnswerBytes, env);
    const bounds: ToolBounds = {
      maxToolCalls: setting(SETTINGS.maxToolCalls, env),
      maxArgumentBytes: setting(SETTINGS.maxToolArgumentBytes, env),
      maxArgumentDepth: setting(SETTINGS.maxToolArgumentDepth, env),
    };

    const simulator = settings.provider === 'simulator' ? await startBuiltInSimulator(env) : undefined;
    if (simulator) settings = { ...settings, endpoint: simulator.url, apiKey: 'simulator' };
    const http = createAgent({ headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs });
    const model = await Model.connect(settings, {
      fetch: agentFetch(http, 'AZURE_OPENAI', options.onExchange),
      timeoutMs,
      idleTimeoutMs,
      maxAnswerBytes,
      maxRetries,
      stream,
    });
    const connection = new McpConnection({
      url: mcp.url,
      token: mcp.token,
      fetch: agentFetch(http, 'MCP_SERVER', options.onExchange),
      requestTimeoutMs: mcpTimeoutMs,
      onExchange: options.onExchange,
    });
    const history = new History(undefined, undefined, { store: historyStoreFromEnv(env), resume: options.resume ?? false });
    const agent = new Agent({ model, mcp: connection, maxRetries, bounds, history });
    const stop = async () => {
      await http.close().catch(() => {});
      await simulator?.close();
    };
    return new Session(agent, model, connection, !mcp.url, stop);
  }

  private closing: Promise<void> | undefined;

  /** Ends the MCP session (and our own server, which then flushes its spans) and the pool; once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([this.mcp.close(), this.agent.history.close()]);
      await this.stop().catch(() => {});
    })();
    return this.closing;
  }
}

/** The offline stand-in for Azure OpenAI, in this process on a free loopback port; shaped by MEMENTO_SIMULATOR_*. */
async function startBuiltInSimulator(env: NodeJS.ProcessEnv): Promise<{ url: string; close(): Promise<void> }> {
  // Imported only when used: a real Azure deployment never loads the simulator.
  const { startSimulator, simulatorOptionsFromEnv } = await import('../simulator/server.ts');
  let fromEnv;
  try {
    fromEnv = simulatorOptionsFromEnv(env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return startSimulator({ ...fromEnv, host: '127.0.0.1', port: 0 });
}
