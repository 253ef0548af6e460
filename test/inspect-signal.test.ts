// dumpOnSignal, tested in a child process that receives real signals. The child is this same file
// run with CORRAL_SIGNAL_CHILD set (see child() at the bottom).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpOnSignal } from '../src/inspect/signal.js';

const MODE = process.env.CORRAL_SIGNAL_CHILD;

/** A child running child() below, with what it printed so far and a way to wait for more. */
class Child {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private wake: (() => void)[] = [];

  constructor(mode: string, env: Record<string, string> = {}) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, ...env, CORRAL_SIGNAL_CHILD: mode },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      this.poke();
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
      this.poke();
    });
    this.exit = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      this.poke();
      resolve({ code, signal });
    }));
  }

  private poke(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  /** Resolves once `pred` holds; fails (with what the child printed) if the child exits first. */
  async until(pred: () => boolean, what: string): Promise<void> {
    while (!pred()) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        assert.fail(`the child exited before ${what}\nstdout: ${this.out}\nstderr: ${this.err}`);
      }
      await new Promise<void>((r) => this.wake.push(r));
    }
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Ends the child's stdin: it cancels its tasks and exits. */
  async end(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.stdin?.end();
    return this.exit;
  }
}

const count = (text: string, re: RegExp): number => [...text.matchAll(re)].length;
const HEADER = /^=== corral dump \d{4}-\d\d-\d\dT[\d:.]+Z pid \d+ SIGUSR2 ===$/gm;

if (MODE === undefined) {
  describe('dumpOnSignal', { timeout: 30_000 }, () => {
    test('each SIGUSR2 writes a full dump to stderr, after a header, with labels redacted', async () => {
      const c = new Child('stderr');
      await c.until(() => c.out.includes('ready\n'), 'ready');
      c.proc.kill('SIGUSR2');
      await c.until(() => c.out.includes('signal 1\n') && /\n {4}in group \d+ "sync"\n(.|\n)*\ngroups:\n/.test(c.err), 'the first dump');
      assert.equal(count(c.err, HEADER), 1);
      assert.match(c.err, /^=== corral dump .* ===\ncorral: 3 tasks in 1 group, pid \d+, taken /m);
      assert.match(c.err, /\ntask \d+ "his-sync" \[waiting: sleep, \d+m?s\]\n {4}labels: study="PHQ-9"\n {4}at spawnSync .*inspect-signal\.test\.ts:\d+:\d+\)\n/);
      assert.ok(!c.err.includes('P-00'), 'the process-wide redaction dropped patientId');
      c.proc.kill('SIGUSR2');
      await c.until(() => c.out.includes('signal 2\n') && count(c.err, /^groups:$/gm) === 2, 'the second dump');
      assert.equal(count(c.err, HEADER), 2);
      assert.deepEqual(await c.end(), { code: 0, signal: null }, 'the process kept running and ends normally');
    });

    test("the function returned removes the listener: the signal's default action is back", async () => {
      const c = new Child('stderr');
      await c.until(() => c.out.includes('ready\n'), 'ready');
      c.send('remove');
      await c.until(() => c.out.includes('removed 0\n'), 'removed');
      c.proc.kill('SIGUSR2');
      assert.deepEqual(await c.exit, { code: null, signal: 'SIGUSR2' });
      assert.ok(!c.err.includes('=== corral dump'), 'no dump written');
    });

    test('with file, each dump is appended to it (mode 0600), in the format asked for', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'corral-signal-'));
      try {
        const file = join(dir, 'tasks.dump');
        const c = new Child('file', { DUMP_FILE: file });
        await c.until(() => c.out.includes('ready\n'), 'ready');
        c.proc.kill('SIGUSR2');
        await c.until(() => c.out.includes('signal 1\n'), 'the first dump');
        c.proc.kill('SIGUSR2');
        await c.until(() => c.out.includes('signal 2\n'), 'the second dump');
        const text = readFileSync(file, 'utf8');
        assert.equal(count(text, HEADER), 2, text);
        assert.equal(count(text, /^3 tasks "his-sync" \[waiting: sleep, oldest \d+m?s\]$/gm), 2, 'grouped, twice');
        assert.equal(statSync(file).mode & 0o777, 0o600);
        assert.equal(c.err, '', 'nothing on stderr');
        assert.deepEqual(await c.end(), { code: 0, signal: null });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('a dump that cannot be written is a warning; the process keeps running', async () => {
      const c = new Child('file', { DUMP_FILE: join(tmpdir(), 'corral-no-such-dir', 'x', 'tasks.dump') });
      await c.until(() => c.out.includes('ready\n'), 'ready');
      c.proc.kill('SIGUSR2');
      // Node prints the warning on stderr too; the two pipes deliver in no set order.
      await c.until(() => c.out.includes('warning CORRAL_SIGNAL_DUMP\n') && c.err.includes('failed: ENOENT'), 'the warning');
      assert.match(c.err, /\[CORRAL_SIGNAL_DUMP\] Warning: corral: the dump on SIGUSR2 failed: ENOENT/);
      assert.deepEqual(await c.end(), { code: 0, signal: null });
    });

    test('refuses signals it must not take over, unknown options and bad dump options, leaving no listener', () => {
      const before = process.listenerCount('SIGUSR2');
      const cases: [unknown, RegExp, ErrorConstructor][] = [
        [{ signal: 'SIGKILL' }, /signal SIGKILL cannot be caught/, RangeError],
        [{ signal: 'SIGTERM' }, /signal SIGTERM stops the process/, RangeError],
        [{ signal: 'SIGINT' }, /signal SIGINT stops the process/, RangeError],
        [{ signal: 'SIGUSR1' }, /signal SIGUSR1 is Node's inspector signal/, RangeError],
        [{ signal: 'SIGNOPE' }, /signal must be a signal name such as "SIGUSR2" \(got "SIGNOPE"\)/, RangeError],
        [{ format: 'xml' }, /dumpOnSignal: format must be one of grouped, full, json/, RangeError],
        [{ limit: -1 }, /dumpOnSignal: limit must be an integer >= 1/, RangeError],
        [{ file: '' }, /file must be a non-empty path/, TypeError],
        [{ verbose: true }, /unknown option "verbose"/, TypeError],
      ];
      for (const [options, message, type] of cases) {
        assert.throws(() => dumpOnSignal(options as never), (e: unknown) => e instanceof type && message.test((e as Error).message), String(message));
      }
      assert.equal(process.listenerCount('SIGUSR2'), before);
      const remove = dumpOnSignal();
      assert.equal(process.listenerCount('SIGUSR2'), before + 1);
      remove();
      remove();
      assert.equal(process.listenerCount('SIGUSR2'), before, 'removed once, idempotent');
    });
  });
} else {
  await child(MODE);
}

/** The child: three sleeping tasks, a dump on SIGUSR2, and a line on stdout after each dump. */
async function child(mode: string): Promise<void> {
  const { Group, background, configure, withCancel } = await import('../src/index.js');
  const { sleep } = await import('../src/timers.js');
  const { setRedaction } = await import('../src/inspect/redact.js');
  configure({ spawnSites: 'always' });
  setRedaction((key, value) => (key === 'patientId' ? undefined : value));
  const { ctx, cancel } = withCancel(background());
  const g = new Group(ctx, { name: 'sync' });
  function spawnSync(i: number): void {
    g.go((c) => sleep(c, 3_600_000), { name: 'his-sync', labels: { study: 'PHQ-9', patientId: `P-00${i}` } });
  }
  for (let i = 0; i < 3; i++) spawnSync(i);
  const remove = mode === 'file' ? dumpOnSignal({ file: process.env.DUMP_FILE, format: 'grouped' }) : dumpOnSignal();
  // Registered after dumpOnSignal's listener, so it runs after the dump was written.
  let n = 0;
  const announce = (): void => {
    process.stdout.write(`signal ${++n}\n`);
  };
  process.on('SIGUSR2', announce);
  process.on('warning', (w) => process.stdout.write(`warning ${(w as Error & { code?: string }).code}\n`));
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    if (d.includes('remove')) {
      remove();
      process.off('SIGUSR2', announce);
      process.stdout.write(`removed ${process.listenerCount('SIGUSR2')}\n`);
    }
  });
  process.stdin.on('end', () => {
    cancel();
    void g.wait().catch(() => {});
  });
  process.stdout.write('ready\n');
}
