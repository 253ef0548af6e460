// leakGuard: the before()/after() pair for a runner's hooks, scoped by time.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Group, background, enableAmbientTracking, sleep, withCancel, type Context } from '../src/index.js';
import { leakGuard, LeakError } from '../src/testing/index.js';

const forever = (ctx: Context): Promise<void> => sleep(ctx, 3_600_000);

async function afterMustLeak(after: Promise<void>): Promise<LeakError> {
  try {
    await after;
  } catch (err) {
    assert.ok(err instanceof LeakError, `expected a LeakError, got ${String(err)}`);
    return err;
  }
  assert.fail('after() passed, but the test leaked');
}

describe('leakGuard', () => {
  test('after() passes when the test cleaned up, and rejects naming what it left', async () => {
    const guard = leakGuard({ settle: 20 });
    guard.before();
    const clean = new Group(background());
    clean.go((ctx) => sleep(ctx, 5));
    await clean.wait();
    await guard.after();

    guard.before();
    const { ctx, cancel } = withCancel(background());
    new Group(ctx, { name: 'intake' }).go(forever, { name: 'left-running' });
    const err = await afterMustLeak(guard.after());
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['left-running']);
    assert.match(err.message, /^leakGuard: 1 task, 1 handle left behind\n\n1 task "left-running" \[waiting: sleep/);
    cancel();
  });

  test('tasks spawned by tasks that existed before before() are background work, not the test\'s', async () => {
    // A task spawned into a group belongs to the group; ambient tracking knows which task spawned it.
    enableAmbientTracking();
    const { ctx, cancel } = withCancel(background());
    const bg = new Group(ctx, { name: 'background' });
    let step: (() => void) | undefined;
    bg.go(async (ctx) => {
      for (;;) {
        await Promise.race([new Promise<void>((r) => (step = r)), ctx.done]);
        ctx.throwIfDone();
        bg.go(forever, { name: 'spawned-by-background' });
      }
    }, { name: 'background-loop' });
    await sleep(background(), 1);
    const guard = leakGuard({ settle: 20, handles: false });
    guard.before();
    step?.();
    await sleep(background(), 1);
    await guard.after();
    cancel();
    await bg.wait().catch(() => {});
  });

  test('timers and abort listeners that background work (tasks older than before()) makes during the test are not the test\'s, with ambient tracking on', async () => {
    enableAmbientTracking();
    const { ctx, cancel } = withCancel(background());
    const bg = new Group(ctx, { name: 'background' });
    const shutdown = new AbortController();
    let ticks = 0;
    bg.go(async (ctx) => {
      const added: (() => void)[] = [];
      try {
        for (;;) {
          ticks++;
          // A fresh listener and a fresh timer every tick, each made inside the test's window.
          const onShutdown = (): void => {};
          shutdown.signal.addEventListener('abort', onShutdown);
          added.push(onShutdown);
          await sleep(ctx, 2);
        }
      } finally {
        for (const l of added) shutdown.signal.removeEventListener('abort', l);
      }
    }, { name: 'background-poller' });
    try {
      await sleep(background(), 1);
      const guard = leakGuard({ settle: 20 });
      guard.before();
      const seen = ticks;
      await sleep(background(), 20);
      assert.ok(ticks > seen, 'the poller ran during the test');
      await guard.after();
      // The test's own task and timer, made the same way, still count.
      guard.before();
      const mine = new Group(ctx, { name: 'mine' });
      mine.go((ctx) => sleep(ctx, 3_600_000), { name: 'left-by-the-test' });
      const err = await afterMustLeak(guard.after());
      assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['left-by-the-test']);
      assert.deepEqual(err.leaks.handles.map((h) => h.description), ['setTimeout 3600000 ms']);
    } finally {
      cancel();
      await bg.wait().catch(() => {});
    }
  });

  test('an abort listener the test left on a long-lived signal fails after(); one it removed does not', async () => {
    const shutdown = new AbortController();
    const guard = leakGuard({ settle: 20 });
    const onAbort = (): void => {};
    guard.before();
    shutdown.signal.addEventListener('abort', onAbort);
    const err = await afterMustLeak(guard.after());
    assert.equal(err.leaks.abortListeners.length, 1);
    assert.match(err.leaks.abortListeners[0]?.site ?? '', /testing-guard\.test\.ts:\d+/);
    shutdown.signal.removeEventListener('abort', onAbort);
    guard.before();
    shutdown.signal.addEventListener('abort', onAbort);
    shutdown.signal.removeEventListener('abort', onAbort);
    await guard.after();
  });

  test('overlapping tests are checked together when the last of them ends, from when the first began', async () => {
    const guard = leakGuard({ settle: 20 });
    const a = {};
    const b = {};
    guard.before(a);
    const { ctx, cancel } = withCancel(background());
    const g = new Group(ctx);
    guard.before(b);
    g.go(forever, { name: 'started-in-a' });
    await guard.after(a); // b still runs: nothing is judged yet
    const err = await afterMustLeak(guard.after(b));
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['started-in-a']);
    assert.match(err.message, /^leakGuard \(checked when the last of 2 overlapping tests ended\): 1 task/);
    cancel();
  });

  test('after() without a matching before() rejects with InvalidStateError', async () => {
    const guard = leakGuard();
    await assert.rejects(guard.after(), { name: 'InvalidStateError', code: 'ERR_CORRAL_INVALID_STATE' });
  });

  test('a key that is not an object is a TypeError naming the hook, and opens nothing', async () => {
    const guard = leakGuard({ settle: 0 });
    assert.throws(() => guard.before('test-1' as never), { name: 'TypeError', message: /^leakGuard: before\(key\) takes the test's context object \(got "test-1"\)/ });
    await assert.rejects(guard.after(42 as never), { name: 'TypeError', message: /^leakGuard: after\(key\) takes the test's context object/ });
    await assert.rejects(guard.after(), { name: 'InvalidStateError' }, 'the bad before() opened no window');
  });

  test("with scope 'all' around a whole suite it reports everything new, background work included", async () => {
    const suite = leakGuard({ scope: 'all', settle: 20, handles: false });
    suite.before();
    const { ctx, cancel } = withCancel(background());
    const bg = new Group(ctx, { name: 'background' });
    bg.go(async () => {
      bg.go(forever, { name: 'child-of-background' });
    }, { name: 'background-parent' });
    await sleep(background(), 1);
    const err = await afterMustLeak(suite.after());
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['child-of-background']);
    cancel();
  });
});
