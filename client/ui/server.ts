// `pgpromote ui`: the approval page. One more client of the promotion's updates: every action goes
// through PromotionClient, and a refusal shows the workflow's own reason (the page never re-checks).
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { setCookie } from 'hono/cookie';
import { serve } from '@hono/node-server';
import { RefusedError, type PromotionClient } from '../client.ts';
import { UsageError } from '../usage.ts';
import type { Answers } from '../../activities/schema/questions.ts';
import { guard, personOfToken, secureCookies, SESSION_COOKIE, type IdentitySettings, type UiEnv } from './security.ts';
import { listPage, messagePage, promotionPage, versionOf } from './render.ts';
import { STAGES } from '../../workflows/visibility.ts';
import type { Stage } from '../../workflows/messages.ts';

export interface UiOptions extends IdentitySettings {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface UiServer {
  url: string;
  close(): Promise<void>;
}

type Form = Record<string, string>;
const comment = (form: Form) => form.comment?.trim() || undefined;
const ANSWER_FIELD = 'answer:';

/** The radio buttons of the answer form, `answer:<question id>` → candidate or `drop`. */
function answersOf(form: Form): Answers {
  return Object.fromEntries(Object.entries(form).filter(([name]) => name.startsWith(ANSWER_FIELD)).map(([name, answer]) => [name.slice(ANSWER_FIELD.length), answer]));
}

/** Each form's update, and what the page says once the promotion took it. */
const ACTIONS: Record<string, { send: (client: PromotionClient, id: string, by: string, form: Form) => Promise<unknown>; done: string }> = {
  answer: { send: (client, id, by, form) => client.answer(id, { by, comment: comment(form), answers: answersOf(form) }), done: 'Answered: the promotion plans again with your answers.' },
  approve: {
    send: (client, id, by, form) => {
      // The hash the approver saw, never the current one: an approval binds to the plan reviewed.
      if (!form.planHash) throw new UsageError('the approval carries no plan hash: reload the page, review the plan, and approve it');
      return client.approve(id, { by, comment: comment(form), planHash: form.planHash, acceptDataLoss: form.acceptDataLoss === 'yes' });
    },
    done: 'Approved: the promotion applies to prod once its policy\'s count of approvals is reached.',
  },
  reject: { send: (client, id, by, form) => client.reject(id, { by, comment: comment(form) }), done: 'Rejected: prod stays as it is.' },
  cancel: { send: (client, id, by, form) => client.cancel(id, { by, comment: comment(form) }), done: 'Cancelled: prod stays as it is.' },
  revert: { send: (client, id, by, form) => client.revert(id, { by, comment: comment(form) }), done: 'Reverted: prod is back to its backup.' },
};

/** Only the actions above: not `constructor` or another name every object has. */
const actionNamed = (name: string | undefined) => (name && Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined);

/** A local path to go on to after signing in; anything else (`//evil.example`) goes home. */
const localPath = (next: string | undefined) => (next && /^\/(?![/\\])/.test(next) ? next : '/');

const SIGN_IN =
  'Sign in first: open /login?token=<your token> once (the tokens file of `pgpromote ui --tokens`), send Authorization: Bearer <token>, or come through the reverse proxy that sets the identity header.';

export function uiApp(client: PromotionClient, settings: IdentitySettings): Hono<UiEnv> {
  const app = new Hono<UiEnv>();

  app.use('*', async (c, next) => {
    const nonce = randomBytes(16).toString('base64');
    c.set('nonce', nonce);
    await next();
    c.header('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`);
    c.header('X-Content-Type-Options', 'nosniff');
    // Not `no-referrer`: with it, Chromium sends `Origin: null` on our own forms' POSTs.
    c.header('Referrer-Policy', 'same-origin');
  });

  app.get('/login', (c) => {
    const token = c.req.query('token');
    if (!personOfToken(settings, token)) return c.html(messagePage('Sign in', 'That token is not in the tokens file of this page: ask whoever runs `pgpromote ui` for yours.', c.get('nonce')), 401);
    setCookie(c, SESSION_COOKIE, token!, { httpOnly: true, sameSite: 'Lax', path: '/', secure: secureCookies(c, settings) });
    return c.redirect(localPath(c.req.query('next')), 303);
  });

  app.use('*', guard(settings, (c) => (c.req.method === 'GET' ? c.html(messagePage('Who are you?', SIGN_IN, c.get('nonce')), 401) : c.text(`refused: ${SIGN_IN}`, 401))));

  const context = (c: Context<UiEnv>) => ({ who: c.get('who'), csrf: c.get('csrf'), nonce: c.get('nonce') });

  async function show(c: Context<UiEnv>, id: string, notice: { refusal?: string; done?: string } = {}, status: 200 | 400 | 409 = 200) {
    try {
      return c.html(promotionPage(await client.status(id), context(c), notice), status);
    } catch (error) {
      const unknown = error instanceof UsageError;
      return c.html(messagePage(unknown ? 'No such promotion' : 'Cannot read the promotion', (error as Error).message, c.get('nonce')), unknown ? 404 : 503);
    }
  }

  app.get('/', async (c) => {
    const filter = { stage: c.req.query('stage') || undefined, prod: c.req.query('prod')?.trim() || undefined };
    // The stage goes into a visibility query: only a stage by its exact name.
    if (filter.stage && !STAGES.includes(filter.stage as Stage)) return c.html(messagePage('No such stage', `stage ${filter.stage} is not one of ${STAGES.join(', ')}`, c.get('nonce')), 400);
    try {
      return c.html(listPage(await client.list({ stage: filter.stage as Stage | undefined, prodUrl: filter.prod }), filter, context(c)));
    } catch (error) {
      // A prod URL that does not parse, search attributes not registered, no server: say so on the page.
      const badInput = error instanceof UsageError || (error as Error).name === 'DatabaseConfigError';
      return c.html(messagePage('Cannot list the promotions', (error as Error).message, c.get('nonce')), badInput ? 400 : 503);
    }
  });
  app.get('/promotions/:id', (c) => show(c, c.req.param('id'), { done: actionNamed(c.req.query('done'))?.done }));
  app.get('/promotions/:id/state.json', async (c) => {
    const state = await client.status(c.req.param('id'));
    return c.json({ stage: state.stage, outcome: state.outcome, version: versionOf(state) });
  });

  app.post('/promotions/:id/:action', async (c) => {
    const id = c.req.param('id');
    const action = actionNamed(c.req.param('action'));
    if (!action) return c.text('no such action: answer, approve, reject, cancel or revert', 404);
    try {
      await action.send(client, id, c.get('who'), c.get('form'));
    } catch (error) {
      if (error instanceof RefusedError) return show(c, id, { refusal: error.message }, 409);
      if (error instanceof UsageError) return show(c, id, { refusal: error.message }, 400);
      throw error;
    }
    return c.redirect(`/promotions/${encodeURIComponent(id)}?done=${c.req.param('action')}`, 303);
  });

  // E.g. no worker answers: say so instead of a bare 500.
  app.onError((error, c) => c.text(`pgpromote ui: ${error.message}`, 500));
  return app;
}

/** Serves the page until closed; bound to `options.host` only. */
export async function startUi(client: PromotionClient, options: UiOptions): Promise<UiServer> {
  const server = serve({ fetch: uiApp(client, options).fetch, hostname: options.host, port: options.port }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (error) => reject(new UsageError(`cannot serve the approval page on ${options.host}:${options.port}: ${error.message}; choose another --port or --host`)));
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
