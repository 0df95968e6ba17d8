import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { knownVariables } from '../../shared/config.ts';
import { configTable, currentConfigTable, readmePath, regenerateCommand, tableEnd, tableStart, withConfigTable } from './config-docs.ts';

describe('README configuration table', () => {
  it('is the one generated from the declarations in shared/config.ts', () => {
    const readme = readFileSync(readmePath, 'utf8');
    const message = `README.md's "Configuration" table differs from the declarations in shared/config.ts; run \`${regenerateCommand}\` and commit README.md`;
    // The table first, so a failure shows the rows that differ rather than the whole README.
    expect(currentConfigTable(readme), message).toBe(configTable());
    expect(withConfigTable(readme), message).toBe(readme);
  });

  it('lists every known variable once, TANDEM_PYTHON as bootstrap only', () => {
    const table = configTable();
    for (const name of knownVariables) expect(table.split(`\`${name}\``).length - 1, name).toBe(1);
    expect(table).toMatch(/^\| `TANDEM_PYTHON` \| — \| .* \| \(bootstrap only\) /m);
    expect(table).toContain('| (`config.json` only) | `pipelines.offPeakByDepartment` |');
  });

  it('rewrites only what is between the markers', () => {
    const readme = `# x\n\nbefore\n${tableStart}\nstale\n${tableEnd}\nafter\n`;
    expect(withConfigTable(readme)).toBe(`# x\n\nbefore\n${tableStart}\n${configTable()}\n${tableEnd}\nafter\n`);
    expect(withConfigTable(withConfigTable(readme))).toBe(withConfigTable(readme));
  });

  it('refuses a README without the markers instead of appending a table somewhere', () => {
    expect(() => withConfigTable('# x\n')).toThrow(/config-table:start .*config-table:end/);
    expect(() => withConfigTable(`${tableEnd}\n${tableStart}\n`)).toThrow(/after it/);
  });
});
