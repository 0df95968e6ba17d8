/**
 * Airflow task logs as plain text: Airflow 3 returns a task's log as structured entries (and a
 * "source details" group nobody reads); hand-off failures, pipeline-run failures and the smoke test
 * show it the way the Airflow UI does.
 */
import type { AirflowTaskLog } from './client.ts';

/** Task log lines as plain text (timestamps and levels kept; the source-details group dropped). */
export function formatTaskLog(log: AirflowTaskLog): string {
  const lines: string[] = [];
  let inSourceGroup = false;
  for (const entry of log.content) {
    if (typeof entry === 'string') {
      lines.push(entry);
      continue;
    }
    if (entry.event === '::group::Log message source details') {
      inSourceGroup = true;
      continue;
    }
    if (entry.event === '::endgroup::') {
      inSourceGroup = false;
      continue;
    }
    if (inSourceGroup) continue;
    const prefix = [entry.timestamp, entry.level?.toUpperCase()].filter(Boolean).join(' ');
    lines.push(prefix ? `${prefix} ${entry.event}` : entry.event);
    if (entry.error_detail !== undefined) lines.push(...formatErrorDetail(entry.error_detail));
  }
  return lines.join('\n');
}

interface ErrorDetailFrame {
  filename?: string;
  lineno?: number;
  name?: string;
}

/** Airflow's structured exception (`error_detail`) as a Python-style traceback. */
function formatErrorDetail(detail: unknown): string[] {
  if (!Array.isArray(detail)) return [JSON.stringify(detail)];
  const lines: string[] = [];
  for (const item of detail as { exc_type?: string; exc_value?: string; frames?: ErrorDetailFrame[] }[]) {
    if (!item || typeof item !== 'object' || item.exc_type === undefined) {
      lines.push(JSON.stringify(item));
      continue;
    }
    lines.push('Traceback (most recent call last):');
    for (const frame of item.frames ?? []) {
      lines.push(`  File "${frame.filename ?? '?'}", line ${frame.lineno ?? '?'}, in ${frame.name ?? '?'}`);
    }
    lines.push(`${item.exc_type}: ${item.exc_value ?? ''}`);
  }
  return lines;
}
