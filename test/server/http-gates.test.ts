/*
 * The HTTP gates as pure functions, without sockets: Host/Origin (DNS rebinding), bearer tokens,
 * allowed methods, and the Authorization scrub. The same gates on a real port: http.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/server/http/errors.ts';
import {
  allowMethod,
  authenticate,
  checkHostAndOrigin,
  hostnameOf,
  hostPolicy,
  scrubAuthorization,
  tokenPolicy,
} from '../../src/server/http/gates.ts';

/** The HttpError a gate throws, or undefined when it lets the request through. */
function refusal(gate: () => unknown): HttpError | undefined {
  try {
    gate();
    return undefined;
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
}

describe('hostnameOf', () => {
  it.each([
    ['localhost:8000', 'localhost'],
    ['Example.COM:80', 'example.com'],
    ['[::1]:8000', '::1'],
    ['[::1]', '::1'],
    ['::1', '::1'],
    ['  127.0.0.1  ', '127.0.0.1'],
  ])('%s → %s', (host, name) => {
    expect(hostnameOf(host)).toBe(name);
  });
});

describe('checkHostAndOrigin (DNS rebinding)', () => {
  const local = hostPolicy(['localhost', '127.0.0.1', '::1']);

  it('lets local Hosts and Origins through', () => {
    for (const headers of [
      { host: 'localhost:8000' },
      { host: '127.0.0.1:8000', origin: 'http://localhost:6274' },
      { host: '[::1]:8000', origin: 'http://[::1]:3000' },
    ]) {
      expect(refusal(() => checkHostAndOrigin(headers, local)), JSON.stringify(headers)).toBeUndefined();
    }
  });

  it('refuses a rebinding Host, a missing Host, and foreign or opaque Origins with 403', () => {
    for (const headers of [{ host: 'evil.example:8000' }, {}, { host: '127.0.0.1.evil.example' }]) {
      const err = refusal(() => checkHostAndOrigin(headers, local));
      expect(err?.status).toBe(403);
      expect(err?.message).toMatch(/Host header/);
    }
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1.evil.example', 'not a url']) {
      const err = refusal(() => checkHostAndOrigin({ host: 'localhost', origin }, local));
      expect(err?.status, origin).toBe(403);
      expect(err?.message).toMatch(/Origin/);
    }
  });

  it('accepts any host with "*"', () => {
    expect(refusal(() => checkHostAndOrigin({ host: 'whatever.example', origin: 'https://x.example' }, hostPolicy(['*'])))).toBeUndefined();
  });
});

describe('authenticate (bearer tokens)', () => {
  const tokens = tokenPolicy(new Map([['tok-alice-7f3a9c1e5b2d4f6a', 'alice']]), undefined);
  const shared = tokenPolicy(undefined, 'shared-secret-4b8e2c6a9d1f');

  it('needs nothing when the server has no token', () => {
    expect(authenticate(undefined, tokenPolicy(undefined, undefined))).toBeUndefined();
  });

  it("names the token's user with a tokens file, and refuses wrong, missing and non-Bearer credentials with 401", () => {
    expect(authenticate('Bearer tok-alice-7f3a9c1e5b2d4f6a', tokens)?.clientId).toBe('alice');
    expect(authenticate('bearer   tok-alice-7f3a9c1e5b2d4f6a ', tokens)?.clientId).toBe('alice');
    for (const header of [undefined, 'Bearer tok-alice-7f3a9c1e5b2d4f6b', 'Basic dG9rOng=', 'Bearer', 'Bearer a b']) {
      const err = refusal(() => authenticate(header, tokens));
      expect(err?.status, String(header)).toBe(401);
      expect(err?.headers['www-authenticate']).toMatch(/^Bearer realm="memento"/);
      expect(err?.message).not.toContain('tok-alice');
    }
  });

  it('with a shared token: the right one passes as no particular user, any other is refused', () => {
    expect(authenticate('Bearer shared-secret-4b8e2c6a9d1f', shared)).toBeUndefined();
    expect(refusal(() => authenticate('Bearer shared-secret-4b8e2c6a9d1e', shared))?.status).toBe(401);
  });

  it('keeps no token in clear: the policy holds hashes only', () => {
    expect(JSON.stringify([...tokens.tokenUsers!.keys()])).not.toContain('tok-alice');
    expect(shared.sharedTokenHash!.toString('utf8')).not.toContain('shared-secret');
  });
});

describe('allowMethod', () => {
  it('refuses other methods with 405 and an Allow header', () => {
    expect(refusal(() => allowMethod('POST', ['POST', 'GET']))).toBeUndefined();
    const err = refusal(() => allowMethod('PUT', ['POST', 'GET', 'DELETE']));
    expect(err?.status).toBe(405);
    expect(err?.headers.allow).toBe('POST, GET, DELETE');
  });
});

describe('scrubAuthorization', () => {
  it('removes the token from headers and raw headers, whatever their case', () => {
    const req = {
      headers: { authorization: 'Bearer secret-1', host: 'localhost' },
      rawHeaders: ['Host', 'localhost', 'Authorization', 'Bearer secret-1', 'AUTHORIZATION', 'Bearer secret-2'],
    } as unknown as IncomingMessage;
    scrubAuthorization(req);
    expect(req.headers).toEqual({ host: 'localhost' });
    expect(req.rawHeaders).toEqual(['Host', 'localhost']);
  });
});
