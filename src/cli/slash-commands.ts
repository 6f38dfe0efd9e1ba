/*
 * The REPL's slash commands, as a table: name, arguments, help and what it does. `/help` is
 * printed from the same table, so a command cannot be missing from it.
 */
import pc from 'picocolors';
import type { Session } from '../client/session.ts';
import { USER_ID_PATTERN } from '../protocol.ts';
import { forPerson, traceLocation } from './render.ts';
import { showConversation } from './conversation-view.ts';
import { showWaterfall } from './waterfall.ts';

/** What a slash command may read and change. */
export interface ChatState {
  session: Session;
  user: string;
  /** Everyone this session has acted for, the starting user included, in order. */
  users: Set<string>;
  lastTrace: string | undefined;
  write(text: string): void;
  quit(): void;
}

export interface SlashCommand {
  name: string;
  aliases?: string[];
  args?: string;
  help: string;
  run(state: ChatState, arg: string): void | Promise<void>;
}

/** The one message for a bad user name, from `/user`, `chat --user` and `ask --user` alike. */
export const INVALID_USER = (name: string) => `"${forPerson(name)}" is not a valid user name (letters, digits, . _ -; up to 64).`;

export const SLASH_COMMANDS: readonly SlashCommand[] = [
  {
    name: '/user',
    args: 'NAME',
    help: "switch to another user's memories",
    run(state, arg) {
      if (!arg) return state.write(`current user: ${state.user}\n`);
      if (!USER_ID_PATTERN.test(arg)) return state.write(`${INVALID_USER(arg)}\n`);
      state.user = arg;
      state.users.add(arg);
      state.session.agent.history.of(arg);
      state.write(`now using ${arg}'s memories\n`);
    },
  },
  {
    name: '/users',
    help: 'users in this session (the current one is marked)',
    run(state) {
      const users = new Set([...state.users, ...state.session.agent.history.users()]);
      for (const u of users) state.write(`${u === state.user ? '*' : ' '} ${u}\n`);
    },
  },
  {
    name: '/history',
    help: "this user's conversation so far",
    async run(state) {
      // Another client sharing this history may have talked since our last turn.
      await state.session.agent.history.sync(state.user);
      const exchanges = state.session.agent.history.of(state.user).exchanges;
      if (exchanges.length === 0) state.write(`no conversation yet for ${state.user}\n`);
      for (const e of exchanges) state.write(`${pc.bold('you')}: ${forPerson(e.user)}\n${pc.bold('memento')}: ${forPerson(e.assistant)}\n`);
    },
  },
  {
    name: '/clear',
    help: "forget this user's conversation, here and where it is kept (memories stay stored)",
    run(state) {
      state.session.agent.history.clear(state.user);
      state.write(`cleared ${state.user}'s conversation (stored memories are kept)\n`);
    },
  },
  {
    name: '/trace',
    args: '[all]',
    help: "draw the last turn's trace as a waterfall; `all`: this conversation's turns, each with its split",
    async run(state, arg) {
      if (arg === 'all') return showConversation(state.session.agent.history.of(state.user).id);
      if (!state.lastTrace) return state.write('no traced turn yet\n');
      await showWaterfall(state.lastTrace, { waitForServer: state.session.ownServer });
      const where = traceLocation(state.lastTrace);
      if (where) state.write(`${pc.dim(where)}\n`);
    },
  },
  {
    name: '/help',
    help: 'this help',
    run(state) {
      state.write(`${helpText()}\n`);
    },
  },
  {
    name: '/quit',
    aliases: ['/exit'],
    help: 'leave (Ctrl-D works too); Ctrl-C cancels a running turn',
    run(state) {
      state.quit();
    },
  },
];

export function helpText(): string {
  const usage = (c: SlashCommand) => (c.args ? `${c.name} ${c.args}` : c.name);
  const width = Math.max(...SLASH_COMMANDS.map((c) => usage(c).length)) + 3;
  return [
    'Type a message to talk to Memento, e.g. "remember that the team offsite is on May 3".',
    'Commands:',
    ...SLASH_COMMANDS.map((c) => `  ${usage(c).padEnd(width)}${c.help}`),
  ].join('\n');
}

/** Runs a `/command args` line; says so when there is no such command. */
export async function runSlashCommand(state: ChatState, line: string): Promise<void> {
  const [name = '', ...rest] = line.split(/\s+/);
  const command = SLASH_COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
  if (!command) return state.write(`unknown command ${name}; /help lists them\n`);
  await command.run(state, rest.join(' '));
}
