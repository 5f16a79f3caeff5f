// The webhook preview: for a deploy system that builds previews itself (a platform like Vercel, a
// Kubernetes operator). pgpromote POSTs what to build to the deploy system's URL, signed with an HMAC of a
// shared secret, and the deploy system answers with the preview, or later: by completing the activity
// with the task token it was given (Temporal's async completion), or through a status URL polled here.
// DELETE <url>/<id> stops it. 5xx and timeouts are retried with backoff; a 4xx says what was refused.
import { createHmac } from 'node:crypto';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { PreviewFailedError, type Preview, type PreviewProvider, type PreviewTarget } from './provider.ts';

/** The deploy system's answer to the POST: the preview now, or its id and how readiness will be reported. */
type StartAnswer = { id: string; url?: string; statusUrl?: string };
/** What a status URL answers while the preview builds, once it is ready, or when it failed. */
type StatusAnswer = { ready?: boolean; url?: string; failed?: string };

const DEFAULT_TIMEOUT = '10 minutes';
const REQUEST_TIMEOUT_MS = 10_000;
/** Tries of one request while the deploy system answers 5xx or not at all: 0.5 s, 1 s, 2 s, 4 s apart. */
const REQUEST_TRIES = 5;
const POLL_INTERVAL_MS = 1_000;

export const SIGNATURE_HEADER = 'x-pgpromote-signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes it, and refuses old timestamps. */
export function signature(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WebhookContext {
  /** The shared secret requests are signed with (PGPROMOTE_PREVIEW_SECRET where the worker runs). */
  secret?: string;
  /** The activity's task token, base64: the deploy system completes the activity with it. */
  taskToken: string;
  /** Called when the deploy system will complete the activity itself: the activity must not complete. */
  completeAsync: () => never;
  /** Called while waiting, so that the worker keeps the activity alive. */
  heartbeat: () => void;
}

export function createWebhookPreviewProvider(target: Extract<PreviewTarget, { provider: 'webhook' }>, context: WebhookContext): PreviewProvider {
  const secret = context.secret;
  if (!secret) {
    throw new PreviewFailedError('this promotion previews through a webhook, but there is no PGPROMOTE_PREVIEW_SECRET where the worker runs: set it to the secret the deploy system checks signatures with');
  }

  /** One signed request, retried on 5xx and timeouts; a 4xx fails at once with what the deploy system said. */
  async function request(method: 'POST' | 'GET' | 'DELETE', url: string, payload?: object): Promise<{ status: number; body: unknown }> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    let last = '';
    for (let attempt = 1; attempt <= REQUEST_TRIES; attempt++) {
      try {
        const response = await fetch(url, {
          method,
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature(secret!, body) },
          body: body || undefined,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await response.text();
        if (response.status < 500) {
          if (response.status >= 400 && !(method === 'DELETE' && response.status === 404)) {
            throw new PreviewFailedError(`the deploy system refused ${method} ${url} with ${response.status}: ${text.slice(0, 500) || '(no body)'}`);
          }
          return { status: response.status, body: text ? JSON.parse(text) : undefined };
        }
        last = `${response.status} ${text.slice(0, 200)}`;
      } catch (error) {
        if (error instanceof PreviewFailedError) throw error;
        last = (error as Error).message;
      }
      context.heartbeat();
      if (attempt < REQUEST_TRIES) await pause(500 * 2 ** (attempt - 1));
    }
    throw new Error(`the deploy system did not answer ${method} ${url} after ${REQUEST_TRIES} tries (last: ${last})`);
  }

  const itemUrl = (id: string) => `${target.url.replace(/\/$/, '')}/${encodeURIComponent(id)}`;

  return {
    async start(promotionId, databaseUrl): Promise<Preview> {
      const { status, body } = await request('POST', target.url, { promotionId, databaseUrl, taskToken: context.taskToken });
      const answer = body as StartAnswer | undefined;
      if (!answer || typeof answer.id !== 'string') throw new PreviewFailedError(`the deploy system answered POST ${target.url} with ${status} but no preview id: answer {"id": "...", "url": "..."}`);
      if (typeof answer.url === 'string') return { id: answer.id, url: answer.url };
      if (typeof answer.statusUrl !== 'string') return context.completeAsync(); // it completes the activity with the task token
      const limit = target.timeout ?? DEFAULT_TIMEOUT;
      const deadline = Date.now() + msToNumber(limit);
      while (Date.now() < deadline) {
        const state = (await request('GET', answer.statusUrl)).body as StatusAnswer | undefined;
        if (state?.failed) throw new PreviewFailedError(`the deploy system says preview ${answer.id} failed: ${state.failed}`);
        if (state?.ready && typeof state.url === 'string') return { id: answer.id, url: state.url };
        context.heartbeat();
        await pause(POLL_INTERVAL_MS);
      }
      throw new PreviewFailedError(`preview ${answer.id} was not ready within ${limit} (${answer.statusUrl})`);
    },

    async stop(id) {
      await request('DELETE', itemUrl(id));
    },

    async alive(id) {
      const state = (await request('GET', itemUrl(id)).catch(() => undefined))?.body as StatusAnswer | undefined;
      return state?.ready === true;
    },
  };
}
