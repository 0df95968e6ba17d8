// deploy/dev/bootstrap.sh interrupted (Ctrl-C) in each of its installs leaves nothing that breaks
// the next run: no stamp is written before its step succeeded, and the next run completes the
// step. Runs the real script in a copy of the checkout's layout, with `npm` and Python faked.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../shared/config.ts';

let root: string;
const calls = () => (existsSync(path.join(root, 'calls.log')) ? readFileSync(path.join(root, 'calls.log'), 'utf8').trim().split('\n') : []);
const stamp = (dir: string) => path.join(root, dir, '.tandem-stamp');
const sha256 = (...files: string[]) => createHash('sha256').update(Buffer.concat(files.map((f) => readFileSync(path.join(root, f))))).digest('hex');

function script(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\n${body}`);
  chmodSync(file, 0o755);
}

/**
 * The checkout: the real bootstrap.sh and lock files, a fake `npm` and a fake Python 3.11 whose
 * venv python fakes pip. Each logs its call; the install named in the file `slow` hangs (so it
 * can be interrupted mid-way).
 */
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tandem-bootstrap-'));
  mkdirSync(path.join(root, 'deploy/dev'), { recursive: true });
  mkdirSync(path.join(root, 'dags'));
  mkdirSync(path.join(root, 'bin'));
  copyFileSync(path.join(repoRoot, 'deploy/dev/bootstrap.sh'), path.join(root, 'deploy/dev/bootstrap.sh'));
  writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion": 3}\n');
  writeFileSync(path.join(root, 'requirements.lock'), 'apache-airflow==3.3.2\n');
  writeFileSync(path.join(root, 'dags/pyproject.toml'), '[project]\nname = "tandem-airflow"\n');
  const hang = (step: string) => `grep -qx ${step} "${root}/slow" 2>/dev/null && sleep 30`;
  script(path.join(root, 'bin/npm'), `echo "npm $*" >> "${root}/calls.log"\nmkdir -p node_modules && : > node_modules/partial\n${hang('npm')}\nexit 0\n`);
  script(
    path.join(root, 'bin/venv-python'),
    `echo "venv-python $*" >> "${root}/calls.log"\ncase "$*" in\n  *"-r requirements.lock"*) ${hang('pip')} ;;\nesac\nexit 0\n`,
  );
  script(
    path.join(root, 'bin/python3.11'),
    `case "$1 $2" in\n  "-m venv") echo "python $*" >> "${root}/calls.log"; mkdir -p .venv/bin && cp "${root}/bin/venv-python" .venv/bin/python ;;\nesac\nexit 0\n`,
  );
});

const env = () => ({ ...process.env, PATH: `${path.join(root, 'bin')}:${process.env.PATH}`, TANDEM_PYTHON: path.join(root, 'bin/python3.11') });
const bootstrap = () => spawnSync('sh', [path.join(root, 'deploy/dev/bootstrap.sh')], { env: env(), encoding: 'utf8', timeout: 20_000 });

/** Runs bootstrap.sh as a terminal job and presses Ctrl-C (SIGINT to its group) at `line`. */
function interruptAt(line: string, step: 'npm' | 'pip'): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  writeFileSync(path.join(root, 'slow'), `${step}\n`);
  const child = spawn('sh', [path.join(root, 'deploy/dev/bootstrap.sh')], { env: env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  let sent = false;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (!sent && output.includes(line)) {
      sent = true;
      // The install is under way (its fake is hanging) a moment after the line.
      setTimeout(() => process.kill(-child.pid!, 'SIGINT'), 300);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(path.join(root, 'slow'), { force: true });
      resolve({ code, signal, output });
    }),
  );
}

describe('bootstrap.sh interrupted', () => {
  it('during npm ci: no npm stamp, and the next run installs again', async () => {
    const r = await interruptAt('installing npm packages', 'npm');
    expect(r.code === 0).toBe(false);
    expect(existsSync(stamp('node_modules'))).toBe(false);
    expect(existsSync(stamp('.venv'))).toBe(false);

    const next = bootstrap();
    expect(next.status, next.stderr).toBe(0);
    expect(calls().filter((c) => c === 'npm ci --no-audit --no-fund --loglevel=error')).toHaveLength(2);
    expect(readFileSync(stamp('node_modules'), 'utf8').trim()).toBe(sha256('package-lock.json'));
    expect(readFileSync(stamp('.venv'), 'utf8').trim()).toBe(sha256('requirements.lock', 'dags/pyproject.toml'));
    // And then nothing is done again.
    const before = calls().length;
    expect(bootstrap().status).toBe(0);
    expect(calls()).toHaveLength(before);
  });

  it('during the pip install: no venv stamp, and the next run reinstalls every package', async () => {
    const r = await interruptAt('installing Python packages', 'pip');
    expect(r.code === 0).toBe(false);
    expect(existsSync(stamp('node_modules'))).toBe(true);
    expect(existsSync(stamp('.venv'))).toBe(false);

    const next = bootstrap();
    expect(next.status, next.stderr).toBe(0);
    const installs = calls().filter((c) => c.includes('-r requirements.lock'));
    expect(installs).toHaveLength(2);
    expect(installs[0]).not.toContain('--force-reinstall');
    expect(installs[1]).toContain('--force-reinstall');
    expect(readFileSync(stamp('.venv'), 'utf8').trim()).toBe(sha256('requirements.lock', 'dags/pyproject.toml'));
    expect(existsSync(path.join(root, '.venv/.tandem-installing'))).toBe(false);
  });

  it('while creating the venv: a venv without a working pip is created again', () => {
    // What `python -m venv` leaves when interrupted before ensurepip finished.
    mkdirSync(path.join(root, '.venv/bin'), { recursive: true });
    script(path.join(root, '.venv/bin/python'), 'exit 1\n');
    const r = bootstrap();
    expect(r.status, r.stderr).toBe(0);
    expect(calls()).toContain('python -m venv --clear .venv');
    expect(existsSync(stamp('.venv'))).toBe(true);
  });
});
