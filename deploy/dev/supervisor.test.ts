import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessSpec } from './process-spec.ts';
import { StackError, StackInterrupted, Supervisor, portIsFree, runCommand } from './supervisor.ts';

const host = '127.0.0.1';
const supervisors: Supervisor[] = [];

function supervisor(lines: string[] = []): Supervisor {
  const s = new Supervisor({ host, logDir: mkdtempSync(path.join(os.tmpdir(), 'tandem-sup-')), progress: (l) => lines.push(l) });
  supervisors.push(s);
  return s;
}

function nodeSpec(name: string, script: string, ready: () => Promise<boolean>, readyTimeoutMs = 5000): ProcessSpec {
  return { name, command: process.execPath, args: ['-e', script], ports: [], ready, readyTimeoutMs };
}

/** Alive and not a zombie (an orphan may wait for init to reap it; it no longer runs). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop(2000)));
});

describe('Supervisor', () => {
  it('refuses to start when a port is already taken, naming it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, host, r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      expect(await portIsFree(host, port)).toBe(false);
      const spec = { ...nodeSpec('api', '', async () => true), ports: [port] };
      await expect(supervisor().preflight([spec])).rejects.toThrow(new RegExp(`api: port 127.0.0.1:${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('names a missing executable and how to fix it', async () => {
    const spec: ProcessSpec = { ...nodeSpec('temporal', '', async () => true), command: '/nonexistent/temporal', installHint: 'run `npm run bootstrap`' };
    await expect(supervisor().preflight([spec])).rejects.toThrow(/temporal: executable \/nonexistent\/temporal not found.*npm run bootstrap/);
  });

  it('waits for readiness by probing, and logs the process output to its log file', async () => {
    const lines: string[] = [];
    const s = supervisor(lines);
    let probes = 0;
    await s.start(nodeSpec('sleeper', 'console.log("hello from child"); setTimeout(() => {}, 60000)', async () => ++probes >= 3));
    expect(probes).toBe(3);
    expect(lines.some((l) => /sleeper ready in/.test(l))).toBe(true);
    await s.stop(2000);
    expect(readFileSync(s.logFile('sleeper'), 'utf8')).toContain('hello from child');
  });

  it('fails fast when the process exits during start-up', async () => {
    const s = supervisor();
    const started = s.start(nodeSpec('crasher', 'process.exit(3)', async () => false, 10_000));
    await expect(started).rejects.toThrow(StackError);
    await expect(started).rejects.toThrow(/crasher exited during start-up/);
  });

  it('gives up after the readiness timeout', async () => {
    const s = supervisor();
    await expect(s.start(nodeSpec('slow', 'setTimeout(() => {}, 60000)', async () => false, 600))).rejects.toThrow(/slow not ready after 1 s/);
  });

  it('reports a process that dies after start instead of restarting it', async () => {
    const s = supervisor();
    const died = new Promise<[string, number | null]>((resolve) => (s.onUnexpectedExit = (n, c) => resolve([n, c])));
    await s.start(nodeSpec('short', 'setTimeout(() => process.exit(4), 300)', async () => true));
    expect(await died).toEqual(['short', 4]);
  });

  it('stops the whole process group, including grandchildren', async () => {
    const s = supervisor();
    const script = `const { spawn } = require('node:child_process');
      const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      console.log('grandchild ' + c.pid); setTimeout(() => {}, 60000);`;
    await s.start(nodeSpec('parent', script, async () => /grandchild \d+/.test(readFileSync(s.logFile('parent'), 'utf8'))));
    const grandchild = Number(/grandchild (\d+)/.exec(readFileSync(s.logFile('parent'), 'utf8'))![1]);
    await s.stop(2000);
    await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(grandchild)).toBe(false);
  });
});

describe('Supervisor start-up failures', () => {
  it('quotes the end of the process log when it dies during start-up', async () => {
    const s = supervisor();
    await expect(s.start(nodeSpec('api', 'console.error("store file is not a database"); process.exit(1)', async () => false))).rejects.toThrow(
      /api exited during start-up; see .*api\.log; last lines:\n\s+store file is not a database/,
    );
  });
});

describe('Supervisor fault injection', () => {
  it('kills a process with its forked children, reports no crash, and restarts it from the same spec', async () => {
    const s = supervisor();
    const crashes: string[] = [];
    s.onUnexpectedExit = (name) => crashes.push(name);
    // The child forks a grandchild, as Airflow's scheduler forks task runners.
    const script = 'require("child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" }); setTimeout(() => {}, 60000)';
    await s.start(nodeSpec('scheduler', script, async () => true));
    const pid = s.pids().scheduler!;
    const grandchild = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    await s.kill('scheduler');
    expect(isRunning(pid)).toBe(false);
    expect(isRunning(grandchild)).toBe(false);
    expect(s.pids().scheduler).toBeUndefined();
    await expect(s.restart('nope')).rejects.toThrow(/nope was not killed/);
    await s.restart('scheduler');
    expect(s.pids().scheduler).not.toBe(pid);
    expect(isRunning(s.pids().scheduler!)).toBe(true);
    expect(crashes).toEqual([]);
  });
});

describe('Supervisor stop at any moment', () => {
  it('stops while a process is still starting up, without waiting for its readiness probe', async () => {
    const s = supervisor();
    // The probe never answers, as the api-server's first Execution API call can take 10 s.
    const starting = s.start(nodeSpec('slow', 'setTimeout(() => {}, 60000)', () => new Promise<boolean>(() => {}), 30_000));
    starting.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const pid = s.pids().slow!;
    const t0 = Date.now();
    await s.stop(2000);
    await expect(starting).rejects.toThrow(StackInterrupted);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(isRunning(pid)).toBe(false);
  });

  it('kills the command of a prepare step and waits until it is gone', async () => {
    const s = supervisor();
    let pid = 0;
    const preparing = s.prepare([
      {
        name: 'migrating',
        run: async (context) => {
          const run = context!.exec(process.execPath, ['-e', 'console.log(process.pid); setTimeout(() => {}, 60000)']);
          await new Promise((r) => setTimeout(r, 300));
          pid = Number(readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).at(-1));
          await run;
        },
      },
    ]);
    preparing.catch(() => {});
    await new Promise((r) => setTimeout(r, 600));
    expect(isRunning(pid)).toBe(true);
    await s.stop(2000);
    expect(isRunning(pid)).toBe(false);
    await expect(preparing).rejects.toThrow(StackInterrupted);
  });

  it('refuses to start anything once stopping, and stop is idempotent', async () => {
    const s = supervisor();
    const first = s.stop(2000);
    expect(s.stop(2000)).toBe(first);
    await first;
    await expect(s.start(nodeSpec('late', 'setTimeout(() => {}, 60000)', async () => true))).rejects.toThrow(/late: not started, the stack is stopping/);
    expect(s.pids()).toEqual({});
  });

  it('stops when the signal it was given is aborted', async () => {
    const stop = new AbortController();
    const s = new Supervisor({ host, logDir: mkdtempSync(path.join(os.tmpdir(), 'tandem-sup-')), progress: () => {}, signal: stop.signal });
    supervisors.push(s);
    await s.start(nodeSpec('sleeper', 'setTimeout(() => {}, 60000)', async () => true));
    const pid = s.pids().sleeper!;
    stop.abort();
    await s.stop();
    expect(isRunning(pid)).toBe(false);
  });

  it('also kills forked children that moved to a process group of their own', async () => {
    // As Airflow's task runners do (setpgid): the leader's group signal misses them, but they stay
    // in its session. Node cannot setpgid, so a Python child does it.
    const s = supervisor();
    const script = `const { spawn } = require('node:child_process');
      const c = spawn('python3', ['-c', 'import os, time; os.setpgid(0, 0); time.sleep(60)'], { stdio: 'ignore' });
      console.log('runner ' + c.pid); process.on('SIGTERM', () => process.exit(0)); setTimeout(() => {}, 60000);`;
    await s.start(nodeSpec('scheduler', script, async () => /runner \d+/.test(readFileSync(s.logFile('scheduler'), 'utf8'))));
    const runner = Number(/runner (\d+)/.exec(readFileSync(s.logFile('scheduler'), 'utf8'))![1]);
    // Python needs a moment to start and call setpgid (longer on a loaded machine): wait for it.
    const groupOf = () => readFileSync(`/proc/${runner}/stat`, 'utf8').split(') ')[1]!.split(' ')[2];
    for (let waited = 0; groupOf() !== String(runner) && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(groupOf()).toBe(String(runner)); // its own group
    await s.stop(2000);
    await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(runner)).toBe(false);
  });
});

describe('runCommand', () => {
  it('resolves with the output, rejects with its tail and the exit code', async () => {
    await expect(runCommand(process.execPath, ['-e', 'console.log("hi")'])).resolves.toEqual({ stdout: 'hi\n', stderr: '' });
    await expect(runCommand(process.execPath, ['-e', 'console.error("disk I/O error"); process.exit(3)'])).rejects.toThrow(/failed \(exit code 3\):\ndisk I\/O error/);
  });

  it('kills the command on timeout', async () => {
    await expect(runCommand(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
  });
});
