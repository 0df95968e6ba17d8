/**
 * The console's pages for data and AI engineers: pipelines (schedule in words, recent runs, the
 * partition × run grid linking to Airflow and, for hand-offs, to Temporal) and durable flows.
 */
import type { Principal } from '../../../shared/contracts/principal.ts';
import type { PipelineRunView, PipelineView } from '../../../shared/contracts/pipelines.ts';
import { html, type SafeHtml } from './html.ts';
import { layout, type FormTokens, type Notice } from './views.ts';

export interface GridCell {
  /** ran, skipped, failed, running, queued, not_run, or waiting-handoff */
  state: string;
  label: string;
  airflowHref?: string | undefined;
  temporalHref?: string | undefined;
}

export interface PipelineSection {
  pipeline: PipelineView;
  runs: PipelineRunView[];
  /** partition → one cell per run, in the order of `runs` */
  grid: { partition: string; cells: GridCell[] }[];
  /** Why runs could not be read, when Airflow did not answer. */
  error?: string | undefined;
}

function shortTime(iso: string | null): string {
  return iso ? iso.replace('T', ' ').slice(0, 16) : '—';
}

function gridTable(section: PipelineSection): SafeHtml {
  const { pipeline, runs, grid } = section;
  if (runs.length === 0) return html`<p class="muted">No runs yet.</p>`;
  return html`<table class="grid">
    <caption>Partitions of ${pipeline.id} × its last ${runs.length} runs</caption>
    <thead><tr><th scope="col">Partition</th>${runs.map((r) => html`<th scope="col"><span title="${r.runId}">${shortTime(r.startDate ?? r.runAfter)}</span><br><span class="muted">${r.state}</span></th>`)}</tr></thead>
    <tbody>${grid.map(
      (row) => html`<tr><th scope="row">${row.partition}</th>${row.cells.map(
        (cell) => html`<td class="cell state-${cell.state}">${cell.airflowHref ? html`<a href="${cell.airflowHref}">${cell.label}</a>` : cell.label}${
          cell.temporalHref ? html`<br><a href="${cell.temporalHref}">Temporal workflow</a>` : ''
        }</td>`,
      )}</tr>`,
    )}</tbody>
  </table>`;
}

export function pipelinesPage(options: { principal: Principal; tokens: FormTokens; sections: PipelineSection[]; notice?: Notice | undefined }): string {
  const body = html`<h1>Pipelines</h1>
    ${options.sections.length === 0 ? html`<p class="empty">No pipelines in your department.</p>` : ''}
    ${options.sections.map(
      (s) => html`<section aria-labelledby="p-${s.pipeline.id}">
        <h2 id="p-${s.pipeline.id}">${s.pipeline.id}</h2>
        <p>${s.pipeline.description}</p>
        <dl class="facts">
          <dt>Department</dt><dd>${s.pipeline.department}</dd>
          <dt>Schedule</dt><dd>${s.pipeline.schedule ? html`${s.pipeline.schedule.description} <span class="muted">(<code>${s.pipeline.schedule.cron}</code>, ${s.pipeline.schedule.timezone})</span>` : 'manual runs only'}</dd>
          <dt>Status</dt><dd>${s.pipeline.status}</dd>
          <dt>Airflow DAG</dt><dd><code>${s.pipeline.dagId}</code></dd>
        </dl>
        ${s.error ? html`<p class="notice notice-error">Runs could not be read: ${s.error}</p>` : gridTable(s)}
      </section>`,
    )}`;
  return layout({ title: 'Pipelines', principal: options.principal, tokens: options.tokens, current: 'pipelines', notice: options.notice, body });
}

export interface FlowRow {
  workflowId: string;
  type: string;
  status: string;
  department: string;
  startedBy: string;
  startTime: string;
  closeTime: string | null;
  temporalHref?: string | undefined;
}

export function flowsPage(options: { principal: Principal; tokens: FormTokens; flows: FlowRow[]; error?: string | undefined }): string {
  const body = html`<h1>Flows</h1>
    <p>Running and recent durable flows of your department, newest first.</p>
    ${options.error
      ? html`<p class="notice notice-error">Temporal could not be asked: ${options.error}</p>`
      : options.flows.length === 0
        ? html`<p class="empty">No flows yet.</p>`
        : html`<table><caption class="visually-hidden">Durable flows</caption>
      <thead><tr><th scope="col">Workflow</th><th scope="col">Type</th><th scope="col">State</th><th scope="col">Department</th><th scope="col">Started by</th><th scope="col">Started</th><th scope="col">Closed</th></tr></thead>
      <tbody>${options.flows.map(
        (f) => html`<tr><td>${f.temporalHref ? html`<a href="${f.temporalHref}"><code>${f.workflowId}</code></a>` : html`<code>${f.workflowId}</code>`}</td><td>${f.type}</td><td>${f.status}</td><td>${f.department}</td><td>${f.startedBy}</td><td>${shortTime(f.startTime)}</td><td>${shortTime(f.closeTime)}</td></tr>`,
      )}</tbody></table>`}`;
  return layout({ title: 'Flows', principal: options.principal, tokens: options.tokens, current: 'flows', body });
}
