/*
 * The checks every request passes before any route sees it, as pure functions of the request's
 * method and headers (tested without sockets in test/server/http-gates.test.ts): a Host and
 * Origin from the allow-list (DNS-rebinding protection: a web page must not reach a server on
 * localhost), then the bearer token. Each returns what the request may do or throws the
 * HttpError that answers it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { authInfoFor } from '../identity.ts';
import { HttpError, JSONRPC } from './errors.ts';

/** The host name of a Host header (`[::1]:8000` → `::1`, `Example.com:80` → `example.com`). */
export function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  // More than one colon is a bare IPv6 address, which a Host header may not carry unbracketed.
  return colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h;
}

/** The host names Host and Origin may carry; built once per server. */
export interface HostPolicy {
  anyHost: boolean;
  allowed: ReadonlySet<string>;
}

export function hostPolicy(allowedHosts: readonly string[]): HostPolicy {
  return { anyHost: allowedHosts.includes('*'), allowed: new Set(allowedHosts.map((h) => hostnameOf(h))) };
}

/** Host and Origin must name this server: the DNS-rebinding defence. Throws a 403 otherwise. */
export function checkHostAndOrigin(headers: IncomingHttpHeaders, policy: HostPolicy): void {
  if (policy.anyHost) return;
  const host = headers.host;
  if (!host || !policy.allowed.has(hostnameOf(host))) {
    throw new HttpError(403, JSONRPC.serverError, 'Forbidden: the Host header is not one this server answers to (see --allowed-hosts).');
  }
  const origin = headers.origin;
  if (origin === undefined) return;
  let originHost: string | undefined;
  try {
    originHost = new URL(origin).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    originHost = undefined;
  }
  if (!originHost || !policy.allowed.has(originHost)) {
    throw new HttpError(403, JSONRPC.serverError, 'Forbidden: requests from this Origin are not allowed (see --allowed-hosts).');
  }
}

/** Which bearer tokens the server takes; tokens are kept as hashes only. */
export interface TokenPolicy {
  /** sha256(token) in hex → user (`--tokens`): the token decides the user. */
  tokenUsers?: ReadonlyMap<string, string> | undefined;
  /** sha256 of the one token every request must carry (MEMENTO_MCP_TOKEN). */
  sharedTokenHash?: Buffer | undefined;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Tokens are compared by hash so that a lookup's timing says nothing about a near miss. */
export function tokenPolicy(tokens: ReadonlyMap<string, string> | undefined, sharedToken: string | undefined): TokenPolicy {
  if (tokens) return { tokenUsers: new Map([...tokens].map(([token, user]) => [sha256(token).toString('hex'), user])) };
  if (sharedToken) return { sharedTokenHash: sha256(sharedToken) };
  return {};
}

/**
 * The auth info naming the token's user (tokens file); undefined for a valid shared token or
 * when no token is needed; throws a 401 HttpError otherwise.
 */
export function authenticate(authorization: string | undefined, policy: TokenPolicy): AuthInfo | undefined {
  if (!policy.tokenUsers && !policy.sharedTokenHash) return undefined;
  const match = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (!match) {
    throw new HttpError(401, JSONRPC.serverError, 'Unauthorized: this server requires an "Authorization: Bearer <token>" header.', {
      'www-authenticate': 'Bearer realm="memento"',
    });
  }
  const presented = sha256(match[1]!);
  if (policy.tokenUsers) {
    const user = policy.tokenUsers.get(presented.toString('hex'));
    if (user !== undefined) return authInfoFor(user);
  } else if (policy.sharedTokenHash && timingSafeEqual(presented, policy.sharedTokenHash)) {
    return undefined;
  }
  throw new HttpError(401, JSONRPC.serverError, 'Unauthorized: the bearer token is not valid.', {
    'www-authenticate': 'Bearer realm="memento", error="invalid_token"',
  });
}

/** Throws a 405 naming the methods a route takes. */
export function allowMethod(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError(405, JSONRPC.serverError, `Method Not Allowed: use ${methods.join(', ')}.`, { allow: methods.join(', ') });
  }
}

/** Removes the bearer token from the request, so the SDK, spans and handlers never hold it. */
export function scrubAuthorization(req: IncomingMessage): void {
  if (req.headers.authorization === undefined) return;
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]!.toLowerCase() === 'authorization') raw.splice(i, 2);
  }
}
