/*
 * A client session: the model, the MCP connection and the agent, built from the environment
 * (src/config.ts) and shared by `memento chat` and `memento ask`. Nothing connects here:
 * the MCP server is reached inside the first turn, so that connecting is part of a trace.
 */
import { mcpSettings, modelSettings, SETTINGS, setting, type ModelSettings } from '../config.ts';
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
  private readonly closeHttp: () => Promise<void>;

  private constructor(agent: Agent, model: Model, mcp: McpConnection, closeHttp: () => Promise<void>) {
    this.agent = agent;
    this.model = model;
    this.mcp = mcp;
    this.closeHttp = closeHttp;
  }

  static async open(options: SessionOptions = {}): Promise<Session> {
    const env = options.env ?? process.env;
    const settings: ModelSettings = modelSettings(env);
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
    return new Session(agent, model, connection, () => http.close());
  }

  private closing: Promise<void> | undefined;

  /** Ends the MCP session (and our own server, which then flushes its spans) and the pool; once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([this.mcp.close(), this.model.close(), this.agent.history.close()]);
      await this.closeHttp().catch(() => {});
    })();
    return this.closing;
  }
}
