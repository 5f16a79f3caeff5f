// Who is asking, and whether a POST really comes from our own page. The approver's name never comes
// from a form field: from a header a trusted reverse proxy sets, or from a per-user token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { UsageError } from '../usage.ts';

export const SESSION_COOKIE = 'pgpromote_session';
export const CSRF_COOKIE = 'pgpromote_csrf';
export const CSRF_FIELD = 'csrf';
const MIN_TOKEN_LENGTH = 16;

export interface IdentitySettings {
  /** A header set by a trusted reverse proxy (e.g. an OAuth proxy's `X-Forwarded-Email`). */
  identityHeader?: string;
  /** sha256(token) → person. */
  tokens?: Map<string, string>;
  /** The page's public origin behind a proxy (`https://approvals.example.com`); the request's own when absent. */
  origin?: string;
}

/** What each request learns on its way in: who asks, the session's CSRF token, the POSTed form, the nonce of the page's inline script and style. */
export type UiEnv = { Variables: { who: string; csrf: string; form: Record<string, string>; nonce: string } };

const NO_IDENTITY =
  'the approval page needs to know who approves: give --identity-header NAME (a header your reverse proxy sets, e.g. X-Forwarded-Email of an OAuth proxy) ' +
  'or --tokens FILE (JSON {"<token>": "<person>"}, e.g. a token from `openssl rand -hex 16`; each person opens /login?token=<token> once)';

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

/** The CLI's flags as settings; refuses when no way to tell who approves is configured. */
export function identitySettings(options: { identityHeader?: string; tokens?: string; origin?: string }): IdentitySettings {
  if (!options.identityHeader && !options.tokens) throw new UsageError(NO_IDENTITY);
  let origin: string | undefined;
  if (options.origin) {
    try {
      origin = new URL(options.origin).origin;
    } catch {
      throw new UsageError(`--origin ${JSON.stringify(options.origin)} is not a URL: give the page's public origin, e.g. https://approvals.example.com`);
    }
  }
  return { identityHeader: options.identityHeader, tokens: options.tokens ? readTokens(options.tokens) : undefined, origin };
}

/** A `{token: person}` JSON file, as hashes of the tokens. */
export function readTokens(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read tokens from ${file}: ${(error as Error).message}; expected JSON like {"<token>": "alice"}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`tokens file ${file} must hold one JSON object of token → person`);
  const tokens = new Map<string, string>();
  for (const [token, person] of Object.entries(parsed)) {
    if (typeof person !== 'string' || !person.trim()) throw new UsageError(`tokens file ${file}: each token must name a person, e.g. {"<token>": "alice"}`);
    if (token.length < MIN_TOKEN_LENGTH) throw new UsageError(`tokens file ${file}: the token of ${person} is shorter than ${MIN_TOKEN_LENGTH} characters: make one with \`openssl rand -hex 16\``);
    tokens.set(digest(token), person.trim());
  }
  if (!tokens.size) throw new UsageError(`tokens file ${file} holds no token: ${NO_IDENTITY}`);
  return tokens;
}

/** The person a token names, if any. */
export function personOfToken(settings: IdentitySettings, token: string | undefined): string | undefined {
  return token ? settings.tokens?.get(digest(token)) : undefined;
}

function identityOf(c: Context, settings: IdentitySettings): string | undefined {
  const fromProxy = settings.identityHeader && c.req.header(settings.identityHeader)?.trim();
  if (fromProxy) return fromProxy;
  const bearer = c.req.header('authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return personOfToken(settings, bearer ?? getCookie(c, SESSION_COOKIE));
}

function sameSecret(sent: string, expected: string): boolean {
  const [a, b] = [Buffer.from(sent), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Cookies are `Secure` when the page is served over https. */
export const secureCookies = (c: Context, settings: IdentitySettings) => (settings.origin ?? new URL(c.req.url).origin).startsWith('https:');

/**
 * Every request names a person (401 otherwise, saying how to sign in); every POST comes from our
 * own origin and carries the per-session CSRF token of our own form (403 otherwise).
 */
export function guard(settings: IdentitySettings, unauthenticated: (c: Context) => Response | Promise<Response>): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const who = identityOf(c, settings);
    if (!who) return unauthenticated(c);
    c.set('who', who);
    let csrf = getCookie(c, CSRF_COOKIE);
    if (c.req.method === 'POST') {
      const origin = c.req.header('origin');
      if (origin !== (settings.origin ?? new URL(c.req.url).origin)) return c.text(`refused: a POST must come from this page (Origin ${origin ?? 'missing'})`, 403);
      const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
      const sent = form[CSRF_FIELD];
      if (!csrf || typeof sent !== 'string' || !sameSecret(sent, csrf)) return c.text('refused: the form\'s CSRF token is missing or does not match this session: reload the page and try again', 403);
      c.set('form', Object.fromEntries(Object.entries(form).filter((entry): entry is [string, string] => typeof entry[1] === 'string')));
    }
    if (!csrf) {
      csrf = randomBytes(32).toString('hex');
      setCookie(c, CSRF_COOKIE, csrf, { httpOnly: true, sameSite: 'Strict', path: '/', secure: secureCookies(c, settings) });
    }
    c.set('csrf', csrf);
    await next();
  };
}
