/*
 * Who a request acts for: the token beats _meta beats user_id beats the default, and a lower
 * source naming someone else is refused rather than overridden.
 */
import { describe, expect, it } from 'vitest';
import { IdentityError, resolveUser } from '../../src/server/identity.ts';

const meta = (user: unknown) => ({ 'memento/user': user });

describe('resolveUser', () => {
  const allowed: [string, Parameters<typeof resolveUser>[0], string][] = [
    ['nothing named: the server default', {}, 'default'],
    ['only user_id (generic MCP client)', { argument: 'carol' }, 'carol'],
    ['only _meta', { meta: meta('alice') }, 'alice'],
    ['_meta and the same user_id', { meta: meta('alice'), argument: 'alice' }, 'alice'],
    ['an empty user_id counts as none', { meta: meta('alice'), argument: '' }, 'alice'],
    ['only the token', { tokenUser: 'bob' }, 'bob'],
    ['token, _meta and user_id agreeing', { tokenUser: 'bob', meta: meta('bob'), argument: 'bob' }, 'bob'],
    ['_meta without our key', { meta: { traceparent: '00-…' } }, 'default'],
  ];
  for (const [name, request, user] of allowed) {
    it(`accepts ${name}`, () => expect(resolveUser(request, 'default')).toBe(user));
  }

  const refused: [string, Parameters<typeof resolveUser>[0], RegExp][] = [
    ['a user_id other than the token user', { tokenUser: 'bob', argument: 'alice' }, /user_id names "alice", but this session is authenticated as "bob"/],
    ['a _meta user other than the token user', { tokenUser: 'bob', meta: meta('alice') }, /bearer token belongs to "bob"/],
    ['a user_id other than the _meta user', { meta: meta('alice'), argument: 'bob' }, /user_id names "bob", but the client identified the current user as "alice"/],
    ['a path trick in user_id under _meta, without echoing it', { meta: meta('alice'), argument: '../bob' }, /names a different user/],
    ['a path trick in user_id', { argument: '../bob' }, /user id "\.\.\/bob" from the user_id argument is not valid/],
    ['a non-string user_id', { argument: 42 }, /user id from the user_id argument is not valid/],
    ['a path trick in _meta', { meta: meta('/etc') }, /is not valid/],
    ['a non-string _meta user', { meta: meta({ user: 'x' }) }, /is not valid/],
    ['an unprintable user_id, without echoing it', { argument: 'a\u202Eb' }, /^The user id from the user_id argument/],
  ];
  for (const [name, request, message] of refused) {
    it(`refuses ${name}`, () => {
      expect(() => resolveUser(request, 'default')).toThrow(IdentityError);
      expect(() => resolveUser(request, 'default')).toThrow(message);
    });
  }
});
