/**
 * The console's pages, as functions from data to `SafeHtml`. No script on any page: sorting and
 * filtering are links and GET forms, decisions are POST forms, so every page works with
 * JavaScript off; every control has a label, and the layout starts with a skip link.
 */
import { evaluationReportSchema, type EvaluationReport } from '../../../shared/contracts/index-promotion.ts';
import type { Principal } from '../../../shared/contracts/principal.ts';
import type { AuditEntry } from '../../../shared/store/audit-log.ts';
import type { ReviewTask } from '../../../shared/store/review-inbox.ts';
import type { ReviewStatus } from '../../../workflows/review/messages.ts';
import type { ArtifactRead } from './artifacts.ts';
import { html, type SafeHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { durationInWords, type NextReviewStep } from './review-schedule.ts';

export const consoleBase = '/console';

/** What every form carries: the session's synchronizer token and a one-time form id. */
export interface FormTokens {
  csrf: string;
  /** Fresh per rendered form, so a replayed post is recognised. */
  formId: () => string;
}

export type Notice = { kind: 'ok' | 'error'; text: string };

function hiddenTokens(tokens: FormTokens): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${tokens.csrf}"><input type="hidden" name="_form" value="${tokens.formId()}">`;
}

function noticeBox(notice: Notice | undefined): SafeHtml {
  if (!notice) return html``;
  // role=alert makes a screen reader announce the result of a post as soon as the page loads.
  return html`<div class="notice notice-${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</div>`;
}

export function layout(options: {
  title: string;
  principal?: Principal | undefined;
  tokens?: FormTokens | undefined;
  current?: 'inbox' | 'pipelines' | 'flows';
  notice?: Notice | undefined;
  body: SafeHtml;
}): string {
  const { principal, tokens } = options;
  const link = (page: 'inbox' | 'pipelines' | 'flows', label: string, href: string) =>
    html`<li><a href="${href}"${options.current === page ? html` aria-current="page"` : ''}>${label}</a></li>`;
  const nav =
    principal && tokens
      ? html`<nav aria-label="Console">
          <ul>
            ${link('inbox', 'Inbox', `${consoleBase}/inbox`)}
            ${link('pipelines', 'Pipelines', `${consoleBase}/pipelines`)}
            ${link('flows', 'Flows', `${consoleBase}/flows`)}
          </ul>
          <form method="post" action="${consoleBase}/logout" class="signout">
            ${hiddenTokens(tokens)}
            <span>Signed in as <strong>${principal.name}</strong> (${principal.role}, ${principal.department === '*' ? 'all departments' : principal.department})</span>
            <button type="submit">Sign out</button>
          </form>
        </nav>`
      : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · tandem console</title>
<link rel="stylesheet" href="${consoleBase}/assets/console.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">tandem console</span>${nav}</header>
<main id="main">
${noticeBox(options.notice)}
${options.body}
</main>
</body>
</html>`.value;
}

export function loginPage(loginToken: string, notice?: Notice): string {
  return layout({
    title: 'Sign in',
    notice,
    body: html`<h1>Sign in</h1>
      <p>Sign in with your tandem API key. The console then acts as that key: your decisions are signed with its name.</p>
      <form method="post" action="${consoleBase}/login" class="stack">
        <input type="hidden" name="_login" value="${loginToken}">
        <label for="apiKey">API key</label>
        <input id="apiKey" name="apiKey" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
      </form>`,
  });
}

export function messagePage(options: { title: string; notice: Notice; principal?: Principal | undefined; tokens?: FormTokens | undefined; back?: string }): string {
  return layout({
    title: options.title,
    principal: options.principal,
    tokens: options.tokens,
    notice: options.notice,
    body: html`<h1>${options.title}</h1>${options.back ? html`<p><a href="${options.back}">Back</a></p>` : ''}`,
  });
}

// --- inbox ---------------------------------------------------------------------------------

export const inboxSorts = ['age', 'next', 'level', 'type', 'title'] as const;
export type InboxSort = (typeof inboxSorts)[number];

export interface InboxRow {
  task: ReviewTask;
  next: NextReviewStep;
}

export interface InboxQuery {
  sort: InboxSort;
  dir: 'asc' | 'desc';
  type?: string | undefined;
  q?: string | undefined;
}

function inboxHref(query: InboxQuery, change: Partial<InboxQuery>): string {
  const merged = { ...query, ...change };
  const params = new URLSearchParams({ sort: merged.sort, dir: merged.dir });
  if (merged.type) params.set('type', merged.type);
  if (merged.q) params.set('q', merged.q);
  return `${consoleBase}/inbox?${params.toString()}`;
}

const stepWords: Record<NextReviewStep['kind'], string> = { reminder: 'reminder', escalation: 'escalation', expiry: 'expires' };

export function inboxPage(options: {
  principal: Principal;
  tokens: FormTokens;
  rows: InboxRow[];
  total: number;
  types: string[];
  query: InboxQuery;
  now: Date;
  notice?: Notice | undefined;
}): string {
  const { rows, query, now } = options;
  const header = (sort: InboxSort, label: string) => {
    const active = query.sort === sort;
    const dir = active && query.dir === 'asc' ? 'desc' : 'asc';
    const ariaSort = active ? (query.dir === 'asc' ? 'ascending' : 'descending') : 'none';
    return html`<th scope="col" aria-sort="${ariaSort}"><a href="${inboxHref(query, { sort, dir })}">${label}${active ? (query.dir === 'asc' ? ' ▲' : ' ▼') : ''}</a></th>`;
  };
  const body = html`<h1>Inbox <span class="count">(${rows.length} pending)</span></h1>
    <p>Reviews waiting on you, or on any reviewer of your department.</p>
    <form method="get" action="${consoleBase}/inbox" class="filters" role="search">
      <input type="hidden" name="sort" value="${query.sort}">
      <input type="hidden" name="dir" value="${query.dir}">
      <label for="filter-type">Review type</label>
      <select id="filter-type" name="type">
        <option value="">all types</option>
        ${options.types.map((t) => html`<option value="${t}"${t === query.type ? html` selected` : ''}>${t}</option>`)}
      </select>
      <label for="filter-q">Title contains</label>
      <input id="filter-q" name="q" type="search" value="${query.q ?? ''}">
      <button type="submit">Filter</button>
    </form>
    ${rows.length === 0
      ? html`<p class="empty">Nothing is waiting for you${options.total > 0 ? ' with this filter' : ''}.</p>`
      : html`<table class="inbox">
      <caption class="visually-hidden">Pending reviews, sorted by ${query.sort}</caption>
      <thead><tr>
        ${header('title', 'Review')}${header('type', 'Type')}<th scope="col">Artifact</th>${header('age', 'Age')}${header('next', 'Next step')}${header('level', 'Escalation')}<th scope="col">Assignee</th>
      </tr></thead>
      <tbody>
      ${rows.map(
        ({ task, next }) => html`<tr>
          <td><a href="${consoleBase}/reviews/${encodeURIComponent(task.id)}">${task.title}</a></td>
          <td>${task.reviewType}</td>
          <td><code title="${task.artifactUri}">${task.artifactUri.split('/').at(-1)}</code><br><span class="muted">version ${task.artifactVersion}</span></td>
          <td>${durationInWords(now.getTime() - new Date(task.createdAt).getTime())}</td>
          <td>${stepWords[next.kind]} in ${durationInWords(next.at.getTime() - now.getTime())}</td>
          <td>${task.escalationLevel === 0 ? 'none' : `level ${task.escalationLevel}`}</td>
          <td>${task.assignee}</td>
        </tr>`,
      )}
      </tbody></table>`}`;
  return layout({ title: `Inbox (${rows.length})`, principal: options.principal, tokens: options.tokens, current: 'inbox', notice: options.notice, body });
}

// --- review page -----------------------------------------------------------------------------

const meaningOf: Record<string, string> = {
  approved: 'approval: the signer reviewed this exact artifact version and approves it',
  rejected: 'rejection: the signer reviewed this exact artifact version and rejects it',
  'changes-requested': 'request for changes: the signer reviewed this exact artifact version and asks for a new one',
};

function when(iso: string): SafeHtml {
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

function actorName(entry: AuditEntry): string {
  return entry.actor.kind === 'key' ? `${entry.actor.name} (${entry.actor.role})` : `${entry.actor.name} (${entry.actor.kind})`;
}

function artifactSection(artifact: ArtifactRead, maxBytes: number): SafeHtml {
  if (!artifact.ok) return html`<p class="notice notice-error" role="status">The artifact is not shown: ${artifact.reason}.</p>`;
  const note = artifact.truncated
    ? html`<p class="notice notice-warn">This artifact is ${artifact.sizeBytes.toLocaleString('en')} bytes; only the first ${maxBytes.toLocaleString('en')} are shown.</p>`
    : html``;
  return html`${note}${artifact.markdown ? html`<div class="artifact markdown">${renderMarkdown(artifact.text)}</div>` : html`<pre class="artifact">${artifact.text}</pre>`}`;
}

/** An evaluation gate's review carries its report as the artifact summary (workflows/kb-refresh/review-artifact.ts). */
function evaluationReportOf(summary: string | undefined): EvaluationReport | undefined {
  if (!summary) return undefined;
  try {
    const parsed = evaluationReportSchema.safeParse(JSON.parse(summary));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function evaluationSection(report: EvaluationReport): SafeHtml {
  const names = [...new Set([...Object.keys(report.metrics), ...Object.keys(report.previousMetrics ?? {})])];
  const fmt = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(3));
  return html`<section aria-labelledby="eval-h"><h2 id="eval-h">Evaluation</h2>
    <p>${report.passed ? 'Every check passed.' : 'Failed checks (each names its threshold):'}</p>
    ${report.failures.length ? html`<ul>${report.failures.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
    <table><caption class="visually-hidden">Metrics of this version beside their thresholds and the previous version</caption>
      <thead><tr><th scope="col">Metric</th><th scope="col">This version <code>${report.version}</code></th><th scope="col">Threshold (minimum)</th><th scope="col">Previous version ${report.previousVersion ? html`<code>${report.previousVersion}</code>` : '(none)'}</th><th scope="col">Change</th></tr></thead>
      <tbody>${names.map((name) => {
        const now = report.metrics[name];
        const before = report.previousMetrics?.[name];
        const delta = now !== undefined && before !== undefined ? now - before : undefined;
        return html`<tr><th scope="row">${name}</th><td>${fmt(now)}</td><td>${fmt(report.minimums?.[name])}</td><td>${fmt(before)}</td><td>${delta === undefined ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(3)}`}</td></tr>`;
      })}</tbody>
    </table>
    ${report.regressionTolerance !== undefined ? html`<p>A metric may drop at most ${report.regressionTolerance.toFixed(3)} below the previous version.</p>` : ''}</section>`;
}

export function reviewPage(options: {
  principal: Principal;
  tokens: FormTokens;
  task: ReviewTask;
  live: ReviewStatus | null;
  audit: AuditEntry[];
  artifact: ArtifactRead;
  artifactMaxBytes: number;
  next: NextReviewStep;
  now: Date;
  notice?: Notice | undefined;
  /** What the reviewer typed, kept when a post was refused so nothing is lost. */
  draftComment?: string | undefined;
}): string {
  const { task, live, tokens, now } = options;
  // The workflow's own status when it answered: the inbox row is closed by an activity a moment
  // after the decision, and the page right after a decision must not offer the form again.
  const status = live?.status ?? task.status;
  const evaluation = evaluationReportOf(live?.artifact.summary);
  const decided = live?.decidedBy && live.decidedAt ? live : null;
  const decidedEntry = options.audit.findLast((e) => e.event === 'decided');
  const escalations = live?.escalations ?? [];
  const comments = live?.comments ?? [];
  const decisionForm =
    status === 'pending'
      ? html`<section aria-labelledby="decide-h">
        <h2 id="decide-h">Your decision</h2>
        <p>You sign as <strong>${options.principal.name}</strong> for artifact version <code>${task.artifactVersion}</code>.</p>
        <form method="post" action="${consoleBase}/reviews/${encodeURIComponent(task.id)}/decision" class="stack">
          ${hiddenTokens(tokens)}
          <input type="hidden" name="reviewId" value="${task.id}">
          <input type="hidden" name="artifactVersion" value="${task.artifactVersion}">
          <label for="comment">Comment (required to reject)</label>
          <textarea id="comment" name="comment" rows="4">${options.draftComment ?? ''}</textarea>
          <div class="buttons">
            <button type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="request-changes">Request changes</button>
            <button type="submit" name="decision" value="reject" class="danger">Reject</button>
          </div>
        </form>
      </section>`
      : html``;
  const record = decided
    ? html`<section aria-labelledby="record-h" class="record">
        <h2 id="record-h">Signed decision record</h2>
        <dl>
          <dt>Signer</dt><dd>${decided.decidedBy}</dd>
          <dt>Signed at</dt><dd>${when(decided.decidedAt!)}</dd>
          <dt>Meaning</dt><dd>${meaningOf[decided.status] ?? decided.status}</dd>
          <dt>Artifact version</dt><dd><code>${decidedEntry?.artifactVersion ?? decided.artifact.version}</code></dd>
          ${decided.comment ? html`<dt>Comment</dt><dd>${decided.comment}</dd>` : ''}
          ${decidedEntry ? html`<dt>Audit entry</dt><dd>#${decidedEntry.seq}, hash <code>${decidedEntry.hash.slice(0, 16)}…</code></dd>` : ''}
        </dl>
      </section>`
    : status !== 'pending'
      ? html`<section aria-labelledby="record-h"><h2 id="record-h">Outcome</h2><p>This review ended as <strong>${status}</strong>${decidedEntry ? html` — signed by ${actorName(decidedEntry)} at ${when(decidedEntry.at)}` : ''}.</p></section>`
      : html``;
  const body = html`<p><a href="${consoleBase}/inbox">← Inbox</a></p>
    <h1>${task.title}</h1>
    <dl class="facts">
      <dt>Status</dt><dd>${status}</dd>
      <dt>Type</dt><dd>${task.reviewType}</dd>
      <dt>Department</dt><dd>${task.department}</dd>
      <dt>Assignee</dt><dd>${task.assignee}</dd>
      <dt>Escalation contact</dt><dd>${task.escalationContact}</dd>
      <dt>Artifact</dt><dd><code>${task.artifactUri}</code></dd>
      <dt>Version under review</dt><dd><code>${task.artifactVersion}</code></dd>
      <dt>Opened</dt><dd>${when(task.createdAt)} (${durationInWords(now.getTime() - new Date(task.createdAt).getTime())} ago)</dd>
      ${status === 'pending' ? html`<dt>Next step</dt><dd>${stepWords[options.next.kind]} in ${durationInWords(options.next.at.getTime() - now.getTime())} (${when(options.next.at.toISOString())})</dd>` : ''}
    </dl>
    ${evaluation ? evaluationSection(evaluation) : live?.artifact.summary ? html`<h2>Summary</h2><p>${live.artifact.summary}</p>` : ''}
    ${record}
    ${decisionForm}
    <section aria-labelledby="artifact-h"><h2 id="artifact-h">Artifact</h2>${
      evaluation && !options.artifact.ok ? html`<p>The artifact is the evaluation report above.</p>` : artifactSection(options.artifact, options.artifactMaxBytes)
    }</section>
    <section aria-labelledby="esc-h"><h2 id="esc-h">Escalation timeline</h2>
      <ol class="timeline">
        <li>${when(task.createdAt)} — opened, assigned to ${live ? (escalations[0]?.from ?? live.assignee) : task.assignee}</li>
        ${escalations.map((e) => html`<li>${when(e.at)} — escalation level ${e.level}: ${e.from} → ${e.to}</li>`)}
        ${status === 'pending' ? html`<li>next: ${stepWords[options.next.kind]} at ${when(options.next.at.toISOString())}</li>` : ''}
      </ol>
    </section>
    <section aria-labelledby="comments-h"><h2 id="comments-h">Comments</h2>
      ${comments.length === 0 ? html`<p class="muted">No comments.</p>` : html`<ul>${comments.map((c) => html`<li><strong>${c.by}</strong>, ${when(c.at)}: ${c.text}</li>`)}</ul>`}
    </section>
    <section aria-labelledby="audit-h"><h2 id="audit-h">Audit trail</h2>
      <table><caption class="visually-hidden">Audit entries of this review, oldest first</caption>
        <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Event</th><th scope="col">Who</th><th scope="col">Version</th></tr></thead>
        <tbody>${options.audit.map(
          (e) => html`<tr><td>${e.seq}</td><td>${when(e.at)}</td><td>${e.event}</td><td>${actorName(e)}</td><td>${e.artifactVersion ?? ''}</td></tr>`,
        )}</tbody>
      </table>
    </section>`;
  return layout({ title: task.title, principal: options.principal, tokens, current: 'inbox', notice: options.notice, body });
}
