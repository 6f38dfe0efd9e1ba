/*
 * Whose memories a call touches. Never an argument the model writes alone: in order of
 * authority,
 *   1. the bearer token, when the server has a tokens file (`--tokens`): the token's user;
 *   2. `params._meta["memento/user"]`, which the Memento client sets on every request outside
 *      the arguments the model sees;
 *   3. the `user_id` tool argument, for generic MCP clients (Inspector, desktop hosts) that
 *      cannot set `_meta`;
 *   4. the server's default user (MEMENTO_USER, else "default").
 * A lower source that names a different user than a higher one is refused, never quietly
 * overridden: a model asked to read "bob's notes" in alice's session must see a refusal.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { USER_ARGUMENT, USER_ID_PATTERN, USER_META_KEY } from '../protocol.ts';

export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

/** What a tool handler knows about the request it is serving. */
export interface RequestIdentity {
  /** The user the bearer token maps to (tokens file), if any. */
  tokenUser?: string | undefined;
  /** The request's `params._meta`. */
  meta?: Record<string, unknown> | undefined;
  /** The `user_id` argument, if the caller passed one. */
  argument?: unknown;
}

function describe(value: unknown): string {
  return typeof value === 'string' && value.length <= 64 && USER_ID_PATTERN.test(value)
    ? `"${value}"`
    : 'a different user';
}

function checked(value: unknown, source: string): string {
  if (typeof value !== 'string' || !USER_ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' && value.length <= 64 && !/[\p{Cc}\p{Cf}]/u.test(value) ? ` "${value}"` : '';
    throw new IdentityError(
      `The user id${shown} from ${source} is not valid: a user id is 1 to 64 letters, digits, ".", "_" or "-", ` +
        'starting with a letter or digit.',
    );
  }
  return value;
}

/**
 * The user a request acts for, or an IdentityError that says why the request is refused.
 */
export function resolveUser(request: RequestIdentity, defaultUser: string): string {
  const fromMeta = request.meta?.[USER_META_KEY];
  const hasArgument = request.argument !== undefined && request.argument !== null && request.argument !== '';

  if (request.tokenUser !== undefined) {
    const user = request.tokenUser;
    if (fromMeta !== undefined && fromMeta !== user) {
      throw new IdentityError(
        `Refused: this request's bearer token belongs to "${user}", but its _meta["${USER_META_KEY}"] names ${describe(fromMeta)}. ` +
          'A token can only reach its own user\'s memories.',
      );
    }
    if (hasArgument && request.argument !== user) {
      throw new IdentityError(
        `Refused: ${USER_ARGUMENT} names ${describe(request.argument)}, but this session is authenticated as "${user}". ` +
          'Memories of other users cannot be reached; leave out user_id.',
      );
    }
    return user;
  }
  if (fromMeta !== undefined) {
    const user = checked(fromMeta, `_meta["${USER_META_KEY}"]`);
    if (hasArgument && request.argument !== user) {
      throw new IdentityError(
        `Refused: ${USER_ARGUMENT} names ${describe(request.argument)}, but the client identified the current user as "${user}". ` +
          'Memories of other users cannot be reached; leave out user_id.',
      );
    }
    return user;
  }
  if (hasArgument) return checked(request.argument, `the ${USER_ARGUMENT} argument`);
  return checked(defaultUser, 'the server default (MEMENTO_USER)');
}

/**
 * What the HTTP layer hands the MCP SDK for an authenticated request. The token itself stays
 * in the HTTP layer: everything downstream (handlers, span decorators) sees only the user.
 */
export function authInfoFor(user: string): AuthInfo {
  return { token: '', clientId: user, scopes: [], extra: { user } };
}

/** The token's user from the SDK's per-request auth info, if the HTTP layer set one. */
export function tokenUserOf(authInfo: AuthInfo | undefined): string | undefined {
  const user = authInfo?.extra?.user;
  return typeof user === 'string' ? user : undefined;
}
