/**
 * `npm run docs:config`: rewrites the configuration table of README.md (between the config-table
 * markers) from the setting declarations in shared/config.ts, so the README cannot describe a
 * variable, default or meaning the loader does not have. config-docs.test.ts fails when the
 * committed table and the declarations drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configSettings, otherVariables, repoRoot } from '../../shared/config.ts';

export const readmePath = path.join(repoRoot, 'README.md');
export const tableStart = '<!-- config-table:start -->';
export const tableEnd = '<!-- config-table:end -->';
export const regenerateCommand = 'npm run docs:config';

const code = (text: string) => `\`${text}\``;
// A `|` would end the cell, even inside a code span.
const row = (...cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;

/** The Markdown table: one row per config setting, in schema order, then the other variables. */
export function configTable(): string {
  return [
    row('variable', '`config.json` key', 'default', 'meaning'),
    '|---|---|---|---|',
    ...configSettings.map((s) => row(s.env ? code(s.env) : '(`config.json` only)', code(s.path), s.defaultText, s.description)),
    ...otherVariables.map((v) => row(code(v.env), '—', v.defaultText, `(${v.readBy} only) ${v.description}`)),
  ].join('\n');
}

function markers(readme: string): { start: number; end: number } {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) {
    throw new Error(`README.md needs ${tableStart} and, after it, ${tableEnd} around the table in "## Configuration"`);
  }
  return { start: start + tableStart.length, end };
}

/** What is between the markers now, without the line breaks that frame it. */
export function currentConfigTable(readme: string): string {
  const { start, end } = markers(readme);
  return readme.slice(start, end).trim();
}

/** The README with its table replaced by `configTable()`; everything outside the markers is kept. */
export function withConfigTable(readme: string): string {
  const { start, end } = markers(readme);
  return `${readme.slice(0, start)}\n${configTable()}\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const before = readFileSync(readmePath, 'utf8');
  const after = withConfigTable(before);
  if (after === before) {
    console.log('README.md: configuration table already up to date');
  } else {
    writeFileSync(readmePath, after);
    console.log(`README.md: configuration table rewritten from shared/config.ts (${configSettings.length + otherVariables.length} rows)`);
  }
}
