/** The console's browser tests: Chromium from deploy/dev/chromium.ts, and the axe-core check every page passes. */
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';

export { launchChromium } from '../../deploy/dev/chromium.ts';

/** axe-core's serious and critical findings on the page as it is now; the tests expect none. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
