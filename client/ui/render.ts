// The approval page's HTML, rendered on the server. Everything shown goes through hono/html's
// escaping: dev's names (tables, columns, questions) are untrusted input.
import { html, raw } from 'hono/html';
import type { ListedPromotion, PromotionStatus } from '../client.ts';
import type { Hazard } from '../../activities/schema/model.ts';
import { describeExecution, describeProgress, formatMs, trialDurations } from '../format.ts';
import { hasDataLoss, STAGES } from '../../workflows/visibility.ts';
import { CSRF_FIELD } from './security.ts';

type Html = ReturnType<typeof html>;

/** What a page needs besides the promotion: who looks, the form secret, the script nonce. */
export interface PageContext {
  who: string;
  csrf: string;
  nonce: string;
}

/** What the page's script compares to see that the promotion moved on. */
export function versionOf(state: PromotionStatus): string {
  return [describeProgress(state), state.answered.length, state.approvals.length, state.ignored.length, state.preview?.url ?? ''].join('|');
}

const STYLE = `
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.35rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #dde; }
  pre { background: #f5f6fa; padding: .5rem; overflow-x: auto; margin: 0; white-space: pre-wrap; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; vertical-align: top; padding: .35rem; border-bottom: 1px solid #eee; }
  .stage { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #e8eefc; font-weight: 600; }
  .data-loss, .will-fail, .error { color: #a01616; } .locking { color: #8a5a00; }
  .refusal { border: 2px solid #a01616; padding: .6rem; background: #fff3f3; }
  .done { border: 2px solid #1c7a35; padding: .6rem; background: #f1fbf3; }
  form { margin: .6rem 0; } fieldset { border: 1px solid #dde; margin-bottom: .6rem; }
  .who { float: right; color: #556; }
`;

function layout(title: string, context: PageContext, body: Html, script?: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${context.nonce}">${raw(STYLE)}</style></head>
<body><span class="who">signed in as <b>${context.who}</b></span>${body}${script ? html`<script nonce="${context.nonce}">${script}</script>` : ''}</body></html>`;
}

/** A page for people who are not signed in, or for an error. */
export function messagePage(title: string, message: string, nonce: string): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title><style nonce="${nonce}">${raw(STYLE)}</style></head>
<body><h1>${title}</h1><p class="error">${message}</p></body></html>`;
}

const hidden = (context: PageContext) => html`<input type="hidden" name="${CSRF_FIELD}" value="${context.csrf}">`;

function hazard(item: Hazard): Html {
  const measured = [item.rows !== undefined ? `${item.rows} rows` : '', item.bytes !== undefined ? `${item.bytes} bytes` : ''].filter(Boolean).join(', ');
  return html`<li class="${item.kind}"><b>${item.kind}</b>: ${item.message}${measured ? html` <small>(${measured})</small>` : ''}</li>`;
}

/** Only a web address becomes a link: a deploy system's answer must not smuggle in `javascript:`. */
function link(url: string): Html {
  return /^https?:\/\//i.test(url) ? html`<a href="${url}" rel="noreferrer">${url}</a>` : html`<code>${url}</code>`;
}

/** Who gave an answer while the promotion ran (answers given at deploy name nobody). */
function answeredBy(state: PromotionStatus, questionId: string): Html {
  const given = [...state.answered].reverse().find((message) => questionId in message.answers);
  return given ? html` <small>(answered by ${given.by})</small>` : html``;
}

function questions(id: string, state: PromotionStatus, context: PageContext): Html {
  const all = state.plan?.questions ?? [];
  if (!all.length) return html``;
  const open = all.filter((question) => !question.answer);
  const answered = all.filter((question) => question.answer);
  return html`<h2>Questions</h2>
${answered.length ? html`<ul>${answered.map((question) => html`<li><code>${question.object}</code> → <code>${question.answer}</code>${answeredBy(state, question.id)}</li>`)}</ul>` : ''}
${open.length ? html`<form method="post" action="/promotions/${encodeURIComponent(id)}/answer">${hidden(context)}
${open.map((question) => html`<fieldset><legend>Was <code>${question.object}</code> renamed, or is it dropped?</legend>
${[...question.candidates, 'drop'].map((choice) => html`<label><input type="radio" name="answer:${question.id}" value="${choice}"> ${choice === 'drop' ? html`drop it <span class="data-loss">(its data is lost)</span>` : html`renamed to <code>${choice}</code>`}</label><br>`)}
</fieldset>`)}
<button type="submit" name="action" value="answer">Answer</button> <small>the promotion then plans again with your answers</small></form>` : ''}`;
}

function plan(state: PromotionStatus): Html {
  const current = state.plan;
  if (!current) return html``;
  const durations = trialDurations(current, state.trial);
  return html`<h2>Plan <code>${current.planHash}</code></h2>
<p>schemas compared: ${current.schemas.join(', ') || '(none)'}</p>
${current.statements.length ? '' : html`<p>Nothing to do: prod already matches dev.</p>`}
<table><tr><th>#</th><th>statement</th><th>hazards measured on prod</th></tr>
${current.statements.map((statement, index) => html`<tr><td>${index + 1}</td><td><pre>${statement.sql.trim()}</pre><small class="execution">${statement.kind} · ${describeExecution(statement, durations[index])}</small></td><td><ul>${statement.hazards.map(hazard)}</ul></td></tr>`)}
</table>
${current.statements.length ? html`<p>Lock-retry budget: ${formatMs(current.lockBudgetMs)} in all for statements to wait and retry after lock timeouts.</p>` : ''}
${current.unsupported.length ? html`<ul>${current.unsupported.map((item) => html`<li class="error">unsupported ${item.kind} <code>${item.object}</code>: ${item.reason}</li>`)}</ul>` : ''}`;
}

function trial(state: PromotionStatus): Html {
  if (!state.trial) return html``;
  return html`<h2>Trial on a copy of prod</h2>
<p>${state.trial.statements.length} statements in ${state.trial.totalMs} ms on the branch${state.branch ? html` <code>${state.branch.name}</code>` : ''}; the branch then matched dev.</p>
<table><tr><th>statement</th><th>ms</th><th>rows</th><th>hazards measured on the branch</th></tr>
${state.trial.statements.map((statement) => html`<tr><td><pre>${statement.sql.trim()}</pre></td><td>${statement.ms}</td><td>${statement.rows ?? ''}</td><td><ul>${statement.hazards.map(hazard)}</ul></td></tr>`)}
</table>`;
}

function approvals(state: PromotionStatus): Html {
  const { approvers, approvals: required, noSelfApproval } = state.policy;
  return html`<h2>Approvals</h2>
<p>${required} distinct approver(s)${approvers ? html` among ${approvers.join(', ')}` : ''}${noSelfApproval ? html`, not ${state.startedBy ?? 'whoever started it'}` : ''}${state.startedBy ? html`; started by ${state.startedBy}` : ''}.</p>
<ul>${state.approvals.map((approval) => html`<li>approved by <b>${approval.by}</b> at ${approval.at}${approval.comment ? html`: ${approval.comment}` : ''}</li>`)}</ul>`;
}

function decisions(id: string, state: PromotionStatus, context: PageContext): Html {
  if (state.stage === 'finished') return html``;
  const action = (name: string) => `/promotions/${encodeURIComponent(id)}/${name}`;
  const comment = html`<input name="comment" placeholder="comment (optional)" size="40">`;
  return html`<h2>Decide</h2>
${state.stage === 'awaiting-approval' && state.plan ? html`<form method="post" action="${action('approve')}">${hidden(context)}<input type="hidden" name="planHash" value="${state.plan.planHash}">
${hasDataLoss(state.plan) ? html`<label class="data-loss"><input type="checkbox" name="acceptDataLoss" value="yes"> I accept the data loss listed in the plan</label><br>` : ''}
${comment} <button type="submit" name="action" value="approve">Approve plan ${state.plan.planHash.slice(0, 12)}</button></form>` : ''}
<form method="post" action="${action('reject')}">${hidden(context)}${comment} <button type="submit" name="action" value="reject">Reject</button> <small>prod stays as it is</small></form>
<form method="post" action="${action('cancel')}">${hidden(context)}${comment} <button type="submit" name="action" value="cancel">Cancel</button> <small>before prod is touched</small></form>
${state.stage === 'revert-window' ? html`<form method="post" action="${action('revert')}">${hidden(context)}${comment} <button type="submit" name="action" value="revert">Revert prod to its backup</button></form>` : ''}`;
}

/** Reloads the promotion's page once the promotion moves on (also from a refusal shown at a form's URL); stops once it has finished. */
function liveRefresh(id: string, version: string): Html {
  // Script text is not HTML: values go in as JSON, with `<` escaped so that nothing can close the tag.
  const json = (value: string) => raw(JSON.stringify(value).replace(/</g, '\\u003c'));
  const page = `/promotions/${encodeURIComponent(id)}`;
  return html`const shown = ${json(version)};
const timer = setInterval(async () => {
  const response = await fetch(${json(`${page}/state.json`)}, { headers: { accept: 'application/json' } }).catch(() => undefined);
  if (!response || !response.ok) return;
  const state = await response.json();
  if (state.version !== shown) { clearInterval(timer); location.replace(${json(page)}); }
}, 2000);`;
}

/** One promotion: where it is, what it would do, and the forms to answer and decide. */
export function promotionPage(state: PromotionStatus, context: PageContext, notice?: { refusal?: string; done?: string }): Html {
  const id = state.promotionId;
  const body = html`<h1>Promotion <code>${id}</code> <span class="stage">${describeProgress(state)}</span></h1>
<p>prod <code>${state.prod}</code>${state.prodIdentity ? html` (${state.prodIdentity})` : ''} ← dev <code>${state.dev}</code></p>
${state.queuedBehind ? html`<p>queued behind <a href="/promotions/${encodeURIComponent(state.queuedBehind)}">${state.queuedBehind}</a>, which promotes the same prod: it starts by itself once that one ends.</p>` : ''}
${notice?.refusal ? html`<p class="refusal" role="alert"><b>Refused:</b> ${notice.refusal}</p>` : ''}
${notice?.done ? html`<p class="done" role="status">${notice.done}</p>` : ''}
${state.error ? html`<p class="error"><b>${state.ended ? 'reason' : 'error'}:</b> ${state.error}</p>` : ''}
${state.preview ? html`<h2>Preview</h2><p>The app on the migrated copy of prod: ${link(state.preview.url)}${state.stage === 'finished' ? ' (stopped)' : ''}</p>` : ''}
${questions(id, state, context)}
${plan(state)}
${trial(state)}
${approvals(state)}
${state.rejection ? html`<p>rejected by <b>${state.rejection.by}</b>${state.rejection.comment ? html`: ${state.rejection.comment}` : ''}</p>` : ''}
${state.cancellation ? html`<p>cancelled by <b>${state.cancellation.by}</b>${state.cancellation.comment ? html`: ${state.cancellation.comment}` : ''}</p>` : ''}
${state.revert ? html`<p>reverted by <b>${state.revert.by}</b>; prod's state before the revert is kept as ${state.revert.keptAs ?? '(pending)'}</p>` : ''}
${state.apply ? html`<p>applied ${state.apply.alreadyApplied ? '(already, by an earlier attempt)' : html`${state.apply.statements.length} statements`}</p>` : ''}
${state.ignored.length ? html`<ul>${state.ignored.map((item) => html`<li>ignored a message from ${item.by}: ${item.reason}</li>`)}</ul>` : ''}
${(state.leftBehind ?? []).map((item) => html`<p class="error">left behind: ${item}</p>`)}
${decisions(id, state, context)}`;
  return layout(`${id}: ${describeProgress(state)}`, context, body, state.stage === 'finished' || state.ended ? undefined : liveRefresh(id, versionOf(state)));
}

/** The promotions, newest first, with a filter by stage and prod. */
export function listPage(promotions: ListedPromotion[], filter: { stage?: string; prod?: string }, context: PageContext): Html {
  const progress = (promotion: ListedPromotion) => [promotion.stage ?? '(not started)', promotion.ended ?? promotion.outcome].filter(Boolean).join(', ');
  return layout('pgpromote: promotions', context, html`<h1>Promotions</h1>
<form method="get" action="/"><label>stage <select name="stage"><option value="">any</option>${STAGES.map((stage) => html`<option${stage === filter.stage ? ' selected' : ''}>${stage}</option>`)}</select></label>
<label>prod <input name="prod" value="${filter.prod ?? ''}" placeholder="postgres://host:5432/db or neon:project/branch" size="40"></label> <button type="submit">Filter</button></form>
${promotions.length ? html`<table><tr><th>promotion</th><th>stage</th><th>prod</th><th>started</th></tr>
${promotions.map((promotion) => html`<tr><td><a href="/promotions/${encodeURIComponent(promotion.id)}">${promotion.id}</a></td><td>${progress(promotion)}</td><td><code>${promotion.prod ?? ''}</code></td><td>${promotion.startedAt}</td></tr>`)}
</table>` : html`<p>No promotions${filter.stage || filter.prod ? ' match' : ''}.</p>`}`);
}
