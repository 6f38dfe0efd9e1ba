/*
 * The command table: every command and flag with its default and help, and the telemetry
 * role each command runs as. Each command's code lives in cli/commands/<name>.ts and is
 * imported only when that command runs, so `memento --help` and `memento traces` start fast.
 *
 * It is the one parser of the command line. The preload (src/telemetry/preload.ts) parses
 * first, to learn whether and as what to start the SDK; src/cli.ts then runs the same parse
 * result (the parse is done once per process and kept), so `memento -u alice`,
 * `memento --user=alice` and `memento chat --user alice` are the same command to both.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, EXIT } from './errors.ts';
import { backedBy, ConfigError, environment, FLAG_DEFAULTS as D, SETTINGS as S } from '../config.ts';
import { log, redact } from '../log.ts';
import { forTerminal } from '../terminal.ts';
import type { Role } from '../telemetry/handle.ts';
import { VERSION } from '../version.ts';
import type { ChatOptions } from './commands/chat.ts';
import type { AskOptions } from './commands/ask.ts';
import type { ServeOptions } from './commands/serve.ts';
import type { SimulatorOptions } from './commands/simulator.ts';
import type { TracesOptions } from './commands/traces.ts';
import type { DoctorOptions } from './commands/doctor.ts';

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

/** What the command line asks for, before anything runs. */
export interface CommandLine {
  /** The telemetry role of the chosen command; undefined for help, version, errors and `traces`. */
  role?: Role;
  /** The chosen command; undefined when parsing already finished the job (help, version, an error). */
  run?: Run;
  /** The exit status when there is nothing to run. */
  exitCode: number;
  /** The command line asked for JSON output: errors are then printed as JSON on stdout. */
  json: boolean;
}

function buildProgram(choose: (run: Run, role: Role | undefined) => void, errors: { text: string }): Command {
  const later = (role: Role | undefined) => (run: Run) => choose(run, role);
  const client = later('client');
  const program = new Command('memento')
    // Set before the subcommands are added: they copy both when they are created. Commander
    // throws instead of exiting, and its error text is held back: `--json` prints it as JSON.
    .exitOverride()
    .configureOutput({ writeErr: (text) => void (errors.text += text) })
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
    .action((opts: ChatOptions) => client(async () => (await import('./commands/chat.ts')).chat(opts)));

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
      client(async () => (await import('./commands/ask.ts')).ask({ ...opts, text: text.join(' ') })),
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
    .action((opts: ServeOptions) => later('server')(async () => (await import('./commands/serve.ts')).serve(opts)));

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
      later(undefined)(async () => (await import('./commands/simulator.ts')).simulator(opts)),
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
      later(undefined)(async () => (await import('./commands/traces.ts')).traces('list', opts)),
    );
  traceSource(
    traces
      .command('show')
      .description('one turn as a waterfall, or with --conversation ID the turns of one conversation')
      .argument('[traceId]', 'trace id (a unique prefix is enough)'),
  )
    .option('-c, --conversation <id>', 'show this conversation (gen_ai.conversation.id; a unique prefix is enough)')
    .action((id: string | undefined, opts: TracesOptions) =>
      later(undefined)(async () => {
        if (!id && opts.conversation === undefined) throw new CliError('show needs a trace id or --conversation ID', EXIT.usage);
        return (await import('./commands/traces.ts')).traces('show', { ...opts, ...(id ? { traceId: id } : {}) });
      }),
    );
  traceSource(traces.command('conversations').description('conversations: turns, time, tokens, tool calls and errors per gen_ai.conversation.id'))
    .option('-c, --conversation <id>', 'only this conversation, its turns in order')
    .option('-n, --limit <n>', 'how many conversations', integer('--limit', 1, 100_000))
    .action((opts: TracesOptions) =>
      later(undefined)(async () => (await import('./commands/traces.ts')).traces('conversations', opts)),
    );
  traceSource(traces.command('stats').description('Azure vs MCP latency: p50 / p95 / max per phase and per tool; slow turns'))
    .option('--slow <ms>', 'list turns slower than this', integer('--slow', 1, 86_400_000), D.slowMs)
    .option('-n, --limit <n>', 'only the newest n turns', integer('--limit', 1, 1_000_000))
    .action((opts: TracesOptions) =>
      later(undefined)(async () => (await import('./commands/traces.ts')).traces('stats', opts)),
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
      client(async () => (await import('./commands/doctor.ts')).doctor({ ...opts, waitMs: opts.wait })),
    );

  return program;
}

let parsed: CommandLine | undefined;

/** Parses `argv` (process.argv) once per process; later calls return the same result. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  if (parsed) return parsed;
  const dashes = argv.indexOf('--');
  const json = (dashes < 0 ? argv : argv.slice(0, dashes)).includes('--json');
  const errors = { text: '' };
  let chosen: { run: Run; role: Role | undefined } | undefined;
  const program = buildProgram((run, role) => (chosen = { run, role }), errors);
  try {
    // Commander's actions only record the choice; nothing runs during the parse.
    program.parse([...argv]);
  } catch (err) {
    const code = err instanceof CommanderError ? err.exitCode : 1;
    if (code === 0) return (parsed = { exitCode: EXIT.ok, json });
    const message = err instanceof Error ? err.message.replace(/^error: /, '') : String(err);
    if (json) printJsonError('usage', message);
    else process.stderr.write(errors.text);
    return (parsed = { exitCode: EXIT.usage, json });
  }
  return (parsed = { role: chosen?.role, run: chosen?.run, exitCode: EXIT.ok, json });
}

/** `{"ok":false,"error":{type,message}}` on stdout: what a `--json` caller reads instead of stderr. */
function printJsonError(type: string, message: string): void {
  process.stdout.write(`${JSON.stringify({ ok: false, error: { type, message: redact(message) } })}\n`);
}

/** Runs the command `argv` names; resolves to the exit status. Never throws. */
export async function runCommandLine(argv: readonly string[]): Promise<number> {
  const line = parseCommandLine(argv);
  if (!line.run) return line.exitCode;
  try {
    return (await line.run()) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      if (line.json) printJsonError(err.exitCode === EXIT.usage ? 'usage' : 'failed', err.message);
      else if (err.message) process.stderr.write(`memento: ${forTerminal(redact(err.message))}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      if (line.json) printJsonError('usage', err.message);
      else process.stderr.write(`memento: ${forTerminal(redact(err.message))}\n`);
      return EXIT.usage;
    }
    log.error('unexpected failure', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    if (line.json) printJsonError('internal', err instanceof Error ? err.message : String(err));
    return EXIT.failed;
  }
}
