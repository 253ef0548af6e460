// Detection of tasks that can never finish (src/unreachable.ts): a task whose pending promise V8
// collected is marked 'leaked (unreachable)'; a task waiting on something still reachable never is.
//
// The leaky cases run inside checkLeaks and assert on its LeakError: that is how a test says "this
// leak is meant", so the suite's leak guard (test/helpers/leak-guard.ts) does not report it again.
// A task that can never finish stays listed for good.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { Channel, Group, background, configure, enableAmbientTracking, snapshot, type Task } from '../src/index.js';
import { LEAKED, collectUnreachable, leakDetail, leakedBySite, leakedCount } from '../src/unreachable.js';
import { checkLeaks, LeakError } from '../src/testing/index.js';
import { config } from '../src/config.js';
import { dumpTasks } from '../src/dump.js';
import { dump, groupTasks } from '../src/inspect/dump.js';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs `fn` in a leak check that must fail, and returns its LeakError. */
async function leakOnPurpose(fn: () => unknown): Promise<LeakError> {
  try {
    await checkLeaks(fn, { settle: 0 });
  } catch (err) {
    assert.ok(err instanceof LeakError, `expected a LeakError, got ${String(err)}`);
    return err;
  }
  assert.fail('the leak check passed, but the work leaks');
}

// Things that are still reachable from a module variable: whoever holds them could still finish the task.
let release: (() => void) | undefined;
const heldChannel = new Channel<number>(0, { name: 'held-elsewhere' });
const longLived = new AbortController();

describe('tasks that can never finish are found', () => {
  test('a task awaiting a promise nobody can resolve is marked leaked, with its last state and site', async () => {
    const g = new Group(background(), { name: 'never' });
    let task: Task<any> | undefined;
    const err = await leakOnPurpose(() => {
      task = g.go((): Promise<void> => new Promise(() => {}), { name: 'awaits-nothing' });
    });
    assert.equal(task?.state, LEAKED);
    const leak = err.leaks.tasks.find((t) => t.id === task?.id);
    assert.ok(leak !== undefined, 'the leak check names the task');
    assert.equal(leak.certain, true);
    assert.equal(leak.reason, 'unreachable');
    assert.equal(leak.lastState, 'running');
    assert.match(leak.spawnSite ?? '', /unreachable\.test\.ts:\d+/);
    assert.match(err.message, /"awaits-nothing" \[leaked \(unreachable\): CERTAIN, it can never finish; it was running/);
  });

  test('a receive on a channel nobody else holds is marked leaked, and it was waiting on that channel', async () => {
    enableAmbientTracking(); // a wait with no ctx shows its state through the ambient task
    const g = new Group(background(), { name: 'lonely' });
    let task: Task<any> | undefined;
    await leakOnPurpose(() => {
      task = g.go(async () => {
        const results = new Channel<boolean>(0, { name: 'validation-results' });
        await results.recv();
      }, { name: 'lonely-receiver' });
    });
    assert.ok(task !== undefined, 'spawned');
    assert.equal(task.state, LEAKED);
    assert.deepEqual(
      { lastState: leakDetail(task)?.lastState, lastOn: leakDetail(task)?.lastOn },
      { lastState: 'waiting: chan receive', lastOn: 'validation-results' },
    );
    // Every dump says what it was doing when it became impossible to finish.
    const was = 'leaked (unreachable), was waiting: chan receive on "validation-results"';
    assert.match(dumpTasks(), new RegExp(`1 task "lonely-receiver" \\[${escape(was)}, oldest \\d+ms\\]`));
    assert.match(dump({ format: 'grouped' }), new RegExp(`1 task "lonely-receiver" \\[${escape(was)}, oldest`));
    assert.match(dump({ format: 'full' }), new RegExp(`task ${task.id} "lonely-receiver" \\[${escape(was)}, `));
    const doc = JSON.parse(dump({ format: 'json' })) as { tasks: { id: number; lastState: string | null }[]; sites: { name: string; lastState: string | null }[] };
    assert.equal(doc.tasks.find((t) => t.id === task?.id)?.lastState, 'waiting: chan receive on "validation-results"');
    assert.equal(doc.sites.find((s) => s.name === 'lonely-receiver')?.lastState, 'waiting: chan receive on "validation-results"');
    const site = groupTasks().find((s) => s.name === 'lonely-receiver');
    assert.deepEqual({ state: site?.state, lastState: site?.lastState }, { state: LEAKED, lastState: 'waiting: chan receive on "validation-results"' });
  });

  test('a task waiting for an event on an emitter nobody else can reach is marked leaked', async () => {
    const g = new Group(background());
    let task: Task<any> | undefined;
    await leakOnPurpose(() => {
      task = g.go(async () => {
        await once(new EventEmitter(), 'ready');
      }, { name: 'awaits-event' });
    });
    assert.equal(task?.state, LEAKED);
  });

  test('a task waiting on an AbortSignal whose controller is gone is marked leaked', async () => {
    const g = new Group(background());
    let task: Task<any> | undefined;
    await leakOnPurpose(() => {
      task = g.go(async () => {
        const signal = new AbortController().signal;
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      }, { name: 'awaits-orphan-signal' });
    });
    assert.equal(task?.state, LEAKED);
  });

  test('leaked tasks are counted by spawn site, and their state stays final', async () => {
    const before = leakedCount();
    const g = new Group(background());
    const spawnThree = (): Task<any>[] => [1, 2, 3].map(() => g.go((): Promise<void> => new Promise(() => {}), { name: 'counted' }));
    let tasks: Task<any>[] = [];
    await leakOnPurpose(() => {
      tasks = spawnThree();
    });
    assert.equal(leakedCount() - before, 3);
    const site = leakedBySite().find((s) => s.name === 'counted');
    assert.ok(site !== undefined, 'the site is listed');
    assert.equal(site.count, 3);
    assert.match(site.site ?? '', /spawnThree/);
    g.cancel(); // a cancellation cannot reach a task whose promise is gone: it stays leaked
    await collectUnreachable();
    assert.deepEqual(new Set(tasks.map((t) => t.state)), new Set([LEAKED]));
    assert.equal(snapshot().tasks.filter((t) => t.name === 'counted').length, 3, 'they stay listed');
  });

  test('with detection off, an unreachable task is not watched and stays "running"', async () => {
    const g = new Group(background());
    const err = await leakOnPurpose(() => {
      configure({ detectUnreachable: false });
      try {
        g.go(() => new Promise<never>(() => {}), { name: 'unwatched' });
      } finally {
        configure({ detectUnreachable: true });
      }
    });
    const leak = err.leaks.tasks.find((t) => t.name === 'unwatched');
    assert.ok(leak !== undefined, 'reported as alive');
    assert.deepEqual({ state: leak.state, certain: leak.certain }, { state: 'running', certain: false });
  });
});

describe('tasks waiting on something reachable are never reported', () => {
  test('a resolver in a module variable, a live timer, a channel held elsewhere, a long-lived AbortController', async () => {
    const g = new Group(background(), { name: 'reachable' });
    const resolver = g.go(() => new Promise<void>((r) => (release = r)), { name: 'resolver-held' });
    // The timer's callback is known to the test only through a WeakRef: the timer alone keeps it.
    let fire: WeakRef<() => void> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timed = g.go(() => new Promise<void>((r) => {
      const cb = (): void => r();
      fire = new WeakRef(cb);
      timer = setTimeout(cb, 60_000);
    }), { name: 'timer-pending' });
    const receiver = g.go(async () => {
      await heldChannel.recv();
    }, { name: 'channel-held' });
    const aborted = g.go(() => once(longLived.signal, 'abort'), { name: 'controller-held' });
    await collectUnreachable();
    for (const t of [resolver, timed, receiver, aborted]) assert.notEqual(t.state, LEAKED, `${t.name} was reported`);

    release?.();
    clearTimeout(timer);
    fire?.deref()?.();
    await heldChannel.send(1);
    longLived.abort();
    await g.wait();
    assert.deepEqual([resolver, timed, receiver, aborted].map((t) => t.state), ['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  test('a receive given the task\'s context stays reachable through it: it is not reported, and cancelling ends it', async () => {
    const g = new Group(background());
    const t = g.go(async (ctx) => {
      await new Channel<number>(0, { name: 'lonely-but-cancellable' }).recv(ctx);
    }, { name: 'ctx-receiver' });
    await collectUnreachable();
    assert.equal(t.state, 'waiting: chan receive');
    t.cancel();
    await assert.rejects(t, { code: 'ERR_CORRAL_CANCELED' });
  });
});

describe('forcing a collection', () => {
  test('needs no --expose-gc: a process started without it finds the leak, and is left with no gc global', async () => {
    const script = `
      const { Group, background } = await import('./src/index.ts');
      const { collectUnreachable } = await import('./src/unreachable.ts');
      const { configure } = await import('./src/config.ts');
      const { runInNewContext } = await import('node:vm');
      configure({ detectUnreachable: true });
      const t = new Group(background()).go(() => new Promise(() => {}), { name: 'hung' });
      await collectUnreachable();
      console.log(JSON.stringify({ state: t.state, gc: typeof globalThis.gc, later: runInNewContext('typeof gc'), argv: process.execArgv }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d));
      child.stderr.on('data', (d: Buffer) => (text += d));
      child.on('error', reject);
      child.on('exit', () => resolve(text.trim()));
    });
    const r = JSON.parse(out.split('\n').at(-1) ?? '') as { state: string; gc: string; later: string; argv: string[] };
    assert.ok(!r.argv.includes('--expose-gc'), `started without the flag: ${r.argv.join(' ')}`);
    assert.equal(r.state, LEAKED);
    assert.equal(r.gc, 'undefined', 'no gc global in the main context');
    assert.equal(r.later, 'undefined', 'contexts made afterwards (a runner\'s) get no gc either');
  });

  test('maxRounds must be an integer >= 2', async () => {
    for (const bad of [1, 2.5, NaN, '3']) {
      await assert.rejects(collectUnreachable(bad as number), { name: 'RangeError', message: /collectUnreachable: maxRounds must be an integer >= 2/ });
    }
  });
});

describe('configuration', () => {
  test('detectUnreachable must be a boolean', () => {
    assert.throws(() => configure({ detectUnreachable: 'yes' as never }), { name: 'TypeError', message: /detectUnreachable must be a boolean/ });
    assert.equal(config.detectUnreachable, true, 'unchanged by the bad call');
  });

  test('the default comes from CORRAL_DETECT_UNREACHABLE, else NODE_ENV=test', async () => {
    const read = (env: Record<string, string>): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', "const { config } = await import('./src/config.ts'); console.log(String(config.detectUnreachable));"],
          { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (out += d));
        child.on('error', reject);
        child.on('exit', () => resolve(out.trim()));
      });
    const [plain, testEnv, on, off, bad] = await Promise.all([
      read({}),
      read({ NODE_ENV: 'test' }),
      read({ CORRAL_DETECT_UNREACHABLE: '1' }),
      read({ NODE_ENV: 'test', CORRAL_DETECT_UNREACHABLE: 'false' }),
      read({ CORRAL_DETECT_UNREACHABLE: 'maybe' }),
    ]);
    assert.deepEqual([plain, testEnv, on, off], ['false', 'true', 'true', 'false']);
    assert.match(bad, /CORRAL_DETECT_UNREACHABLE="maybe" is not one of/);
    assert.match(bad, /^false$/m, 'falls back to the default');
  });
});
