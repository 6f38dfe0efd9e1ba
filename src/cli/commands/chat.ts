/*
 * `memento chat`: the REPL. Line editing and history come from node:readline; a line is a
 * turn unless it is a slash command. Ctrl-C cancels the running turn (or clears the line),
 * Ctrl-D or /quit leaves. A failed turn costs that turn, never the session.
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import pc from 'picocolors';
import { defaultUser, jaegerTraceLink, SETTINGS, setting } from '../../config.ts';
import { ConfigError } from '../../client/errors.ts';
import { Session } from '../../client/session.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import { CliError, EXIT } from '../errors.ts';
import { footer, forPerson, TurnView, trafficLine } from '../render.ts';
import { showWaterfall } from '../waterfall.ts';
import { showConversation } from '../conversation-view.ts';

export interface ChatOptions {
  user?: string;
  traffic?: boolean;
  waterfall?: boolean;
}

const HELP = `Type a message to talk to Memento, e.g. "remember that the team offsite is on May 3".
Commands:
  /user NAME   switch to another user's memories
  /users       users in this session (the current one is marked)
  /history     this user's conversation so far
  /clear       forget this user's conversation, here and where it is kept (memories stay stored)
  /trace       draw the last turn's trace as a waterfall
  /trace all   this conversation's turns, each with its split
  /help        this help
  /quit        leave (Ctrl-D works too); Ctrl-C cancels a running turn`;

function historyFile(): string {
  return setting(SETTINGS.historyFile);
}

/** The one message for a bad user name, from `/user`, `chat --user` and `ask --user` alike. */
export function invalidUserMessage(user: string): string {
  return `"${forPerson(user)}" is not a valid user name (letters, digits, . _ -; up to 64).`;
}

export async function chat(opts: ChatOptions): Promise<number> {
  let user = opts.user ?? defaultUser();
  if (!USER_ID_PATTERN.test(user)) throw new CliError(invalidUserMessage(user), EXIT.usage);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let view: TurnView | undefined;
  let session: Session;
  try {
    session = await Session.open({
      resume: true,
      onExchange: opts.traffic
        ? (e) => {
            const line = `${trafficLine(e)}\n`;
            if (view) view.around(() => process.stderr.write(line));
            else process.stderr.write(line);
          }
        : undefined,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }

  const savedHistory = interactive ? loadHistory() : [];
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    history: savedHistory,
    historySize: 500,
    removeHistoryDuplicates: true,
  });
  const prompt = () => (interactive ? `${pc.bold(pc.cyan('memento'))} ${pc.dim(`(${user})`)}> ` : '');
  rl.setPrompt(prompt());
  // Piped input can end (and readline close) while a turn is still running; the lines it
  // already read are still delivered, but the prompt must not be drawn on a closed interface.
  let closed = false;
  rl.once('close', () => (closed = true));
  const showPrompt = () => {
    if (!closed) {
      rl.setPrompt(prompt());
      rl.prompt();
    }
  };

  if (interactive) {
    const target =
      session.model.settings.provider === 'simulator'
        ? 'the built-in simulator (no Azure settings found)'
        : `${session.model.settings.provider === 'azure' ? 'Azure OpenAI' : session.model.settings.endpoint} (${session.model.settings.deployment})`;
    process.stdout.write(`${pc.bold('Memento')} — talking to ${target}, memories from ${session.mcp.describe()}.\n${pc.dim('/help for commands, Ctrl-D to leave.')}\n`);
  }

  let running: AbortController | undefined;
  let lastTrace: string | undefined;
  const interrupt = () => {
    if (running) {
      running.abort();
    } else if (interactive) {
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write(`\n${pc.dim('(Ctrl-D or /quit to leave)')}\n`);
      showPrompt();
    } else {
      rl.close();
    }
  };
  rl.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);
  const onTerm = () => rl.close();
  process.once('SIGTERM', onTerm);

  try {
    showPrompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (interactive && line) saveHistory(line);
      if (!line) {
        showPrompt();
        continue;
      }
      if (line.startsWith('/')) {
        const [command, ...rest] = line.split(/\s+/);
        const arg = rest.join(' ');
        switch (command) {
          case '/quit':
          case '/exit':
            rl.close();
            continue;
          case '/help':
            process.stdout.write(`${HELP}\n`);
            break;
          case '/user':
            if (!arg) process.stdout.write(`current user: ${user}\n`);
            else if (!USER_ID_PATTERN.test(arg)) process.stdout.write(`${invalidUserMessage(arg)}\n`);
            else {
              user = arg;
              session.agent.history.of(user);
              process.stdout.write(`now using ${user}'s memories\n`);
            }
            break;
          case '/users': {
            const users = new Set([...session.agent.history.users(), user]);
            for (const u of users) process.stdout.write(`${u === user ? '*' : ' '} ${u}\n`);
            break;
          }
          case '/history': {
            // Another client sharing this history may have talked since our last turn.
            await session.agent.history.sync(user);
            const exchanges = session.agent.history.of(user).exchanges;
            if (exchanges.length === 0) process.stdout.write(`no conversation yet for ${user}\n`);
            for (const e of exchanges) process.stdout.write(`${pc.bold('you')}: ${forPerson(e.user)}\n${pc.bold('memento')}: ${forPerson(e.assistant)}\n`);
            break;
          }
          case '/clear':
            session.agent.history.clear(user);
            process.stdout.write(`cleared ${user}'s conversation (stored memories are kept)\n`);
            break;
          case '/trace':
            if (arg === 'all') await showConversation(session.agent.history.of(user).id);
            else if (!lastTrace) process.stdout.write('no traced turn yet\n');
            else {
              await showWaterfall(lastTrace);
              process.stdout.write(`${pc.dim(jaegerTraceLink(lastTrace))}\n`);
            }
            break;
          default:
            process.stdout.write(`unknown command ${command}; /help lists them\n`);
        }
        showPrompt();
        continue;
      }

      running = new AbortController();
      view = new TurnView();
      const result = await session.agent.runTurn(line, {
        user,
        signal: running.signal,
        onText: view.text,
        onStatus: view.status,
      });
      view.finish(result);
      view = undefined;
      running = undefined;
      if (result.cancelled) process.stdout.write(`${pc.yellow('cancelled')}\n`);
      else if (result.error) process.stdout.write(`${pc.red('error')}: ${forPerson(result.error.message)}\n`);
      if (result.traceId) lastTrace = result.traceId;
      process.stdout.write(`${footer(result)}\n`);
      if (opts.waterfall && result.traceId) await showWaterfall(result.traceId);
      showPrompt();
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', onTerm);
    if (interactive) process.stdout.write('\n');
    await session.close();
  }
  return EXIT.ok;
}

function loadHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8').split('\n').filter(Boolean).reverse().slice(0, 500);
  } catch {
    return [];
  }
}

let historyChecked = false;

function saveHistory(line: string): void {
  try {
    const file = historyFile();
    // Private whatever the umask: what a person typed may be what they asked to remember.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, `${line.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
    if (!historyChecked) {
      historyChecked = true;
      chmodSync(file, 0o600);
    }
  } catch {
    // History is a convenience; a read-only home must not break the chat.
  }
}

