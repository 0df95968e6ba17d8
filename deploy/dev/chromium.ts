/**
 * A headless Chromium for the console's browser tests and screenshots: Debian's `chromium`
 * (bootstrap.sh installs it where it can) driven by playwright-core, with the flags that keep it
 * from reaching the network on its own.
 */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function chromiumPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not on PATH: run `npm run bootstrap` as root (it installs it with apt-get), or `apt-get install -y chromium`');
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: chromiumArgs });
}
