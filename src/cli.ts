/*
 * `memento`: the command table. Every command and flag is declared here with its default and
 * help; each command's code lives in cli/commands/<name>.ts and is imported only when that
 * command runs, so `memento --help` and `memento traces` start fast. This is the only file
 * that calls process.exit: commands return an exit status or throw a CliError.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliError, EXIT } from './cli/errors.ts';
import { backedBy, ConfigError, environment, FLAG_DEFAULTS as D, SETTINGS as S } from './config.ts';
import { log, redact } from './log.ts';
import { forTerminal } from './terminal.ts';
import { telemetry } from './telemetry/setup.ts';
import { VERSION } from './version.ts';
import type { ChatOptions } from './cli/commands/chat.ts';
import type { AskOptions } from './cli/commands/ask.ts';
import type { ServeOptions } from './cli/commands/serve.ts';
import type { SimulatorOptions } from './cli/commands/simulator.ts';
import type { TracesOptions } from './cli/commands/traces.ts';
import type { DoctorOptions } from './cli/commands/doctor.ts';

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got "${value}".`);
    }
    return n;
  };
}

function probability(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(`must be a number from 0 to 1, got "${value}".`);
  }
  return n;
}

/** `memento --help`'s variable list: the settings table (config.ts), row by row. */
const environmentHelp = () =>
  '\nEnvironment (flags override):\n' +
  environment().map((e) => `  ${e.name.padEnd(52)} ${e.help}${e.shown ? ` [${e.shown}]` : ''}`).join('\n') +
  '\n  and the other standard OTEL_* variables (OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES …).\n';

const simulatorHelp = () => `
It is a simulator, not a language model: it answers by fixed rules that read the tools each
request offers (by name, description and schema), so its answers are predictable. Every
answer's "model" is "memento-simulator".

  message (examples)                               what it does
  "remember …", "store/save/note …" (#tag, "tagged a, b")
                                                   store (one call per "remember" line: parallel)
  "what did I store yesterday / today / last week / on 2024-07-15?"
                                                   retrieve with since/until (UTC days)
  "what did I store?", "list my memories"          retrieve
  "search/find/look for X", "what do I know about X"
                                                   search with the query X
  "delete/forget the memory about X"               search X, then delete the best hit, then a summary
  "show bob's memories", "what did alice store"    as above, plus user_id (a misbehaving model:
                                                   the server must refuse it)
  anything else, or no tools offered               a short help answer
  tool results in the conversation                 a summary of them (errors included)

Serves POST /openai/deployments/{deployment}/chat/completions?api-version=…,
/openai/v1/chat/completions and /v1/chat/completions (streaming too). Full rules: docs/simulator.md.
`;

type Run = () => Promise<number | void>;
let pending: Run | undefined;
/** Commander only records which command was chosen; it runs after parsing, below. */
const later = (run: Run) => {
  pending = run;
};

function buildProgram(): Command {
  const program = new Command('memento')
    // Set before the subcommands are added: they copy it when they are created.
    .exitOverride()
    .description('Store and recall memories in plain language — one OpenTelemetry trace per turn.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', environmentHelp);

  const userOption = () =>
    new Option('-u, --user <name>', `whose memories to use ${backedBy(S.user)}`);
  const trafficOption = () =>
    new Option('--traffic', 'print a line per network exchange (Azure OpenAI, MCP) as it completes');
  const waterfallOption = () => new Option('--waterfall', "draw each turn's trace as a text waterfall");

  program
    .command('chat', { isDefault: true })
    .description('interactive chat (the default command); /help lists the slash commands')
    .addOption(userOption())
    .addOption(trafficOption())
    .addOption(waterfallOption())
    .action((opts: ChatOptions) => later(async () => (await import('./cli/commands/chat.ts')).chat(opts)));

  program
    .command('ask')
    .description('one turn, non-interactive: prints the answer and its trace id')
    .argument('<text...>', 'what to say (quotes optional)')
    .addOption(userOption())
    .option('--json', 'print {answer, traceId, durationMs, phases, …} as JSON')
    .option('-c, --continue', "continue this user's last conversation (its kept history) instead of starting a new one")
    .addOption(trafficOption())
    .addOption(waterfallOption())
    .action((text: string[], opts: Omit<AskOptions, 'text'>) =>
      later(async () => (await import('./cli/commands/ask.ts')).ask({ ...opts, text: text.join(' ') })),
    );

  program
    .command('serve')
    .description('run the Memento MCP server (Streamable HTTP /mcp, legacy SSE /sse, /health; or stdio)')
    .option('--host <address>', 'address to bind; 0.0.0.0 only when you mean it', D.host)
    .option('-p, --port <port>', 'port to listen on', integer('--port', 0, 65535), D.servePort)
    .option('-d, --data-dir <dir>', `storage root ${backedBy(S.dataDir)}`)
    .option('--store <url>', `keep memories in PostgreSQL (postgres://…) instead of the data directory, for replicas ${backedBy(S.storeUrl)}`)
    .option('--stdio', 'speak MCP over stdin/stdout instead of HTTP (for desktop MCP hosts)')
    .option('--stateless', 'no MCP sessions on /mcp, so replicas behind a round-robin balancer can each answer any request (legacy /sse off)')
    .option('--tokens <file>', 'JSON file mapping bearer tokens to users; the token then decides the user')
    .option(
      '--allowed-hosts <names>',
      'comma-separated host names that Host and Origin may carry besides localhost and the bound address ("*": any)',
    )
    .option(
      '--session-timeout <seconds>',
      'close an MCP session after this long with no request in progress',
      integer('--session-timeout', 1, 86_400 * 7),
      D.sessionTimeoutS,
    )
    .option(
      '--max-sessions <count>',
      'most live MCP sessions at once; past it the longest-idle session (idle at least 60 s or the session timeout) gives way, else 503',
      integer('--max-sessions', 1, 1_000_000),
      D.maxSessions,
    )
    .option(
      '--max-content-size <bytes>',
      'largest memory content accepted',
      integer('--max-content-size', 1024, 256 * 1024 * 1024),
      D.maxContentBytes,
    )
    .action((opts: ServeOptions) => later(async () => (await import('./cli/commands/serve.ts')).serve(opts)));

  program
    .command('simulator')
    .description(
      'run the offline Azure OpenAI stand-in (a SIMULATOR, not a model): Azure and /v1 chat completions, ' +
        'rule-based tool calls, injected latency and faults',
    )
    .option('--host <address>', 'address to bind', D.host)
    .option('-p, --port <port>', 'port to listen on', integer('--port', 0, 65535), D.simulatorPort)
    .option('--latency <ms>', `added to every answer ${backedBy(S.simLatencyMs)}`, integer('--latency', 0, 3_600_000))
    .option('--jitter <ms>', `random extra latency, up to this much ${backedBy(S.simJitterMs)}`, integer('--jitter', 0, 3_600_000))
    .option('--fail-rate <p>', `share of requests answered 429 (with retry-after) or 500, at random ${backedBy(S.simFailRate)}`, probability)
    .option('--faults <list>', `what happens to the first requests, in order: ok, timeout, reset or a status, e.g. 429,500,ok,timeout (429*2 repeats) ${backedBy(S.simFaults)}`)
    .option('--timeout-ms <ms>', `how long a "timeout" fault holds a request ${backedBy(S.simTimeoutMs)}`, integer('--timeout-ms', 0, 3_600_000))
    .option('--retry-after-ms <ms>', `the wait a 429 asks for ${backedBy(S.simRetryAfterMs)}`, integer('--retry-after-ms', 0, 3_600_000))
    .option('--api-key <key>', `accept only this key, else answer 401 as Azure does ${backedBy(S.simApiKey)}`)
    .option(
      '--deployment <name>',
      `a deployment that exists (repeat or comma-separate); others get 404 DeploymentNotFound ${backedBy(S.simDeployments)}`,
      (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((d) => d.trim()).filter(Boolean)],
    )
    .addHelpText('after', simulatorHelp)
    .action((opts: SimulatorOptions) =>
      later(async () => (await import('./cli/commands/simulator.ts')).simulator(opts)),
    );

  const traces = program
    .command('traces')
    .description('per-turn and per-conversation trace views from the local trace file or from Jaeger');
  const traceSource = (cmd: Command) =>
    cmd
      .option('-f, --file <file>', `trace file ${backedBy(S.traceFile)}`)
      .option('--jaeger <url>', "read from Jaeger's query API instead (e.g. http://localhost:16686)")
      .option('--json', 'print JSON instead of text');
  traceSource(traces.command('list').description('recent turns, newest first'))
    .option('-n, --limit <n>', 'how many turns', integer('--limit', 1, 100_000), D.tracesLimit)
    .action((opts: TracesOptions) =>
      later(async () => (await import('./cli/commands/traces.ts')).traces('list', opts)),
    );
  traceSource(
    traces
      .command('show')
      .description('one turn as a waterfall, or with --conversation ID the turns of one conversation')
      .argument('[traceId]', 'trace id (a unique prefix is enough)'),
  )
    .option('-c, --conversation <id>', 'show this conversation (gen_ai.conversation.id; a unique prefix is enough)')
    .action((id: string | undefined, opts: TracesOptions) =>
      later(async () => {
        if (!id && opts.conversation === undefined) throw new CliError('show needs a trace id or --conversation ID', EXIT.usage);
        return (await import('./cli/commands/traces.ts')).traces('show', { ...opts, ...(id ? { traceId: id } : {}) });
      }),
    );
  traceSource(traces.command('conversations').description('conversations: turns, time, tokens, tool calls and errors per gen_ai.conversation.id'))
    .option('-c, --conversation <id>', 'only this conversation, its turns in order')
    .option('-n, --limit <n>', 'how many conversations', integer('--limit', 1, 100_000))
    .action((opts: TracesOptions) =>
      later(async () => (await import('./cli/commands/traces.ts')).traces('conversations', opts)),
    );
  traceSource(traces.command('stats').description('Azure vs MCP latency: p50 / p95 / max per phase and per tool; slow turns'))
    .option('--slow <ms>', 'list turns slower than this', integer('--slow', 1, 86_400_000), D.slowMs)
    .option('-n, --limit <n>', 'only the newest n turns', integer('--limit', 1, 1_000_000))
    .action((opts: TracesOptions) =>
      later(async () => (await import('./cli/commands/traces.ts')).traces('stats', opts)),
    );

  program
    .command('doctor')
    .description('check the whole path end to end (model, MCP server, OTLP, a test turn in Jaeger and Prometheus) and print a checklist')
    .addOption(userOption())
    .option('--jaeger <url>', "Jaeger's query service, to find the test turn in [MEMENTO_JAEGER_URL; unset: skipped]")
    .option('--prometheus <url>', `Prometheus, to find the span metrics in ${backedBy(S.prometheusUrl)}`)
    .option('--wait <ms>', 'how long to wait for the test turn to reach Jaeger and Prometheus', integer('--wait', 0, 600_000), 30_000)
    .option('--json', 'print {ok, checks: [{name, status, detail}]} as JSON')
    .action((opts: DoctorOptions & { wait: number }) =>
      later(async () => (await import('./cli/commands/doctor.ts')).doctor({ ...opts, waitMs: opts.wait })),
    );

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Commander has already printed the usage error or the help text.
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? EXIT.ok : EXIT.usage;
  }
  if (!pending) return EXIT.ok;
  try {
    return (await pending()) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      if (err.message) process.stderr.write(`memento: ${forTerminal(redact(err.message))}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`memento: ${forTerminal(redact(err.message))}\n`);
      return EXIT.usage;
    }
    log.error('unexpected failure', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return EXIT.failed;
  }
}

const code = await main(process.argv);
await telemetry().shutdown();
// process.exit drops what a pipe has not taken yet: wait until stdout and stderr have
// passed on everything written so far (a long answer, its error line, the footer).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => (s.writableLength ? s.write('', () => resolve()) : resolve()))));
process.exit(code);
