/**
 * What the CLI prints: a table for people (cli-table3), or the API's JSON as it came with
 * `--json`, for scripts. Each command names the columns worth a glance; everything else is in
 * the JSON.
 */
import Table from 'cli-table3';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Rows as a table; with `json`, the whole response instead. A `next` page is mentioned below the table. */
export function printRows<T>(json: boolean, response: unknown, rows: T[], columns: Column<T>[]): void {
  if (json) return printJson(response);
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const table = new Table({ head: columns.map((c) => c.header), style: { head: [], border: [] } });
  for (const row of rows) table.push(columns.map((c) => cell(c.value(row))));
  console.log(table.toString());
  const next = (response as { next?: unknown } | null)?.next;
  if (typeof next === 'string') console.log(`more: --cursor '${new URL(next, 'http://x').searchParams.get('cursor') ?? ''}'`);
}

/** One object as a two-column table of its fields; with `json`, the object. */
export function printRecord(json: boolean, value: unknown, fields?: string[]): void {
  if (json || value === null || typeof value !== 'object') return printJson(value);
  const record = value as Record<string, unknown>;
  const table = new Table({ style: { head: [], border: [] } });
  for (const key of fields ?? Object.keys(record)) table.push({ [key]: cell(record[key]) });
  console.log(table.toString());
}
