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
