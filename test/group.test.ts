import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  background,
  CanceledError,
  configure,
  GroupClosedError,
  InvalidStateError,
  StopTimeoutError,
  withCancel,
  type Context,
} from '../src/index.js';
import { Group } from '../src/group.js';
import { inspectContext } from '../src/context.js';
import { liveCounts, snapshot } from '../src/registry.js';
import { mulberry32 } from './helpers/random.js';
import { gate, ticks } from './helpers/schedule.js';


describe('errgroup semantics', () => {
  test('wait resolves when every task has finished', async () => {
    const g = new Group(background());
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      g.go(async () => {
        await ticks(i);
        done.push(i);
      });
    }
    await g.wait();
    assert.deepEqual(done.sort(), [0, 1, 2, 3, 4]);
  });

  test('wait rejects with the first error, the same object, and keeps it after later errors', async () => {
    const g = new Group(background(), {});
    const first = new Error('first');
    const second = new Error('second');
    const later = gate();
    g.go(async () => {
      throw first;
    });
    g.go(async () => {
      await later.promise;
      throw second;
    });
    await ticks();
    later.open();
    await assert.rejects(g.wait(), (e) => e === first);
    await assert.rejects(g.wait(), (e) => e === first);
  });

  test('after wait the group context is done, with the first error as cause', async () => {
    const g = new Group(background());
    const boom = new Error('boom');
    g.go(() => {
      throw boom;
    });
    await assert.rejects(g.wait(), (e) => e === boom);
    assert.ok(g.ctx.err instanceof CanceledError, "g.ctx.err instanceof CanceledError");
    assert.equal(g.ctx.cause, boom);
  });

  test('after a clean wait the group context is done with a CanceledError as cause', async () => {
    const g = new Group(background());
    g.go(async () => 1);
    await g.wait();
    assert.ok(g.ctx.err instanceof CanceledError, "g.ctx.err instanceof CanceledError");
    assert.equal(g.ctx.cause, g.ctx.err);
    const empty = new Group(background());
    await empty.wait();
    assert.ok(empty.ctx.err instanceof CanceledError, "empty.ctx.err instanceof CanceledError");
  });

  test('a task that throws synchronously counts as failed', async () => {
    const g = new Group(background());
    const boom = new Error('sync');
    const t = g.go(() => {
      throw boom;
    });
    assert.equal(t.state, 'failed');
    await assert.rejects(g.wait(), (e) => e === boom);
    await assert.rejects(Promise.resolve(t), (e) => e === boom);
  });

  test('failFast cancels the siblings with the first error as cause', async () => {
    const g = new Group(background());
    const boom = new Error('boom');
    let siblingCtx: Context | undefined;
    const sibling = g.go(async (ctx) => {
      siblingCtx = ctx;
      await ctx.done;
      throw ctx.err;
    });
    g.go(async () => {
      await ticks(1);
      throw boom;
    });
    await assert.rejects(g.wait(), (e) => e === boom);
    assert.ok(siblingCtx?.err instanceof CanceledError, "siblingCtx?.err instanceof CanceledError");
    assert.equal(siblingCtx?.cause, boom);
    assert.equal(sibling.state, 'canceled');
  });

  test('with failFast false every error is collected into an AggregateError and siblings run on', async () => {
    const g = new Group(background(), { failFast: false });
    const a = new Error('a');
    const b = new Error('b');
    let siblingFinished = false;
    g.go(async () => {
      throw a;
    });
    g.go(async (ctx) => {
      await ticks(3);
      assert.equal(ctx.err, undefined);
      siblingFinished = true;
    });
    g.go(async () => {
      await ticks(1);
      throw b;
    });
    await assert.rejects(g.wait(), (e: unknown) => {
      assert.ok(e instanceof AggregateError, "e instanceof AggregateError");
      assert.deepEqual(e.errors, [a, b]);
      return true;
    });
    assert.ok(siblingFinished, "siblingFinished");
  });

  test('a group is reusable after wait: the next go starts a fresh round', async () => {
    const g = new Group(background());
    const boom = new Error('round 1');
    g.go(() => {
      throw boom;
    });
    await assert.rejects(g.wait(), (e) => e === boom);
    const round1 = g.ctx;
    const t = g.go(async (ctx) => {
      assert.equal(ctx.err, undefined);
      return 42;
    });
    assert.notEqual(g.ctx, round1);
    await g.wait();
    assert.equal(await t, 42);
  });

  test('cancelling one task is not a failure of the group', async () => {
    const g = new Group(background());
    let siblingCtx: Context | undefined;
    const t = g.go(async (ctx) => {
      await ctx.done;
      throw ctx.err;
    });
    g.go(async (ctx) => {
      siblingCtx = ctx;
      await ticks(3);
    });
    t.cancel(new Error('not needed'));
    await g.wait();
    await assert.rejects(Promise.resolve(t), CanceledError);
    assert.equal(t.state, 'canceled');
    assert.equal(siblingCtx?.err?.message, 'task finished');
  });

  test('group.cancel tells every task to stop and wait rejects with the cancellation', async () => {
    const g = new Group(background());
    const why = new Error('shutdown');
    for (let i = 0; i < 3; i++) {
      g.go(async (ctx) => {
        await ctx.done;
        throw ctx.err;
      });
    }
    g.cancel(why);
    await assert.rejects(g.wait(), (e: unknown) => e instanceof CanceledError && e.cause === why);
  });

  test('a failed task observed by its group never becomes an unhandled rejection', async () => {
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown): void => {
      seen.push(r);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const g = new Group(background());
      g.go(async () => {
        throw new Error('observed by the group');
      });
      g.go(() => Promise.reject(new Error('also observed')));
      await assert.rejects(g.wait());
      await ticks(3);
      assert.deepEqual(seen, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('limits', () => {
  test('go returns the task at once and it waits for a slot, shown as "waiting: group slot"', async () => {
    const g = new Group(background(), { limit: 1 });
    const first = gate();
    g.go(() => first.promise);
    const second = g.go(async () => 'ran');
    assert.equal(second.state, 'waiting: group slot');
    assert.equal(g.queued, 1);
    first.open();
    assert.equal(await second, 'ran');
    await g.wait();
  });

  test('never more tasks run than the limit, and every task runs once, in order (randomized)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seed);
      const limit = 1 + Math.floor(rand() * 4);
      const g = new Group(background(), { limit });
      let running = 0;
      let max = 0;
      const started: number[] = [];
      const n = 30;
      for (let i = 0; i < n; i++) {
        const delay = Math.floor(rand() * 4);
        g.go(async () => {
          started.push(i);
          running++;
          max = Math.max(max, running);
          await ticks(delay);
          running--;
        });
      }
      await g.wait();
      assert.ok(max <= limit, `seed ${seed}: ${max} > ${limit}`);
      assert.deepEqual(started, [...Array(n).keys()], `seed ${seed}: start order`);
    }
  });

  test('a queued task whose group context ends never starts and rejects with the context error', async () => {
    const g = new Group(background(), { limit: 1 });
    const hold = gate();
    g.go(async (ctx) => {
      await Promise.race([hold.promise, ctx.done]);
    });
    let started = false;
    const queued = g.go(() => {
      started = true;
    });
    const why = new Error('stop');
    g.cancel(why);
    await assert.rejects(Promise.resolve(queued), (e: unknown) => e instanceof CanceledError && e.cause === why);
    await assert.rejects(g.wait());
    assert.equal(started, false);
  });

  test('cancelling a queued task removes it without starting it', async () => {
    const g = new Group(background(), { limit: 1 });
    const hold = gate();
    g.go(() => hold.promise);
    let started = false;
    const queued = g.go(() => {
      started = true;
    });
    queued.cancel();
    hold.open();
    await g.wait();
    assert.equal(started, false);
    assert.equal(queued.state, 'canceled');
  });

  test('a queue of synchronous tasks drains without overflowing the stack', async () => {
    const g = new Group(background(), { limit: 1 });
    const hold = gate();
    g.go(() => hold.promise);
    let ran = 0;
    for (let i = 0; i < 50_000; i++) g.go(() => void ran++);
    hold.open();
    await g.wait();
    assert.equal(ran, 50_000);
  });

  test('tryGo returns undefined when the group is full, and the task when a slot is free', async () => {
    const g = new Group(background(), { limit: 1 });
    const hold = gate();
    const a = g.tryGo(() => hold.promise);
    assert.ok(a, "a");
    assert.equal(g.tryGo(() => 1), undefined);
    hold.open();
    await g.wait();
    assert.ok(g.tryGo(() => 1), "g.tryGo(() => 1)");
    await g.wait();
  });

  test('limit 0 refuses everything', () => {
    const g = new Group(background(), { limit: 0 });
    assert.equal(g.tryGo(() => 1), undefined);
    assert.throws(() => g.go(() => 1), RangeError);
  });

  test('changing the limit while tasks run throws; when idle it works', async () => {
    const g = new Group(background(), { limit: 2 });
    const hold = gate();
    g.go(() => hold.promise);
    assert.throws(() => g.setLimit(5), InvalidStateError);
    hold.open();
    await g.wait();
    g.setLimit(5);
    assert.equal(g.limit, 5);
    assert.throws(() => g.setLimit(-1), RangeError);
    assert.throws(() => g.setLimit(1.5), RangeError);
  });

  test('bad options throw errors that name them', () => {
    assert.throws(() => new Group(background(), { limit: -1 }), /limit/);
    assert.throws(() => new Group(background(), { stopTimeout: -5 }), /stopTimeout/);
    assert.throws(() => new Group(background(), { nmae: 'x' } as never), /unknown option "nmae"/);
    assert.throws(() => new Group(null as never), TypeError);
    const g = new Group(background());
    assert.throws(() => g.go('nope' as never), TypeError);
    assert.throws(() => g.go(() => 1, { nam: 'x' } as never), /unknown option "nam"/);
  });
});

describe('disposal', () => {
  test('disposing cancels the context, waits for the tasks and refuses go afterwards', async () => {
    let finished = false;
    {
      await using g = new Group(background(), { name: 'scoped' });
      g.go(async (ctx) => {
        await ctx.done;
        await ticks(2);
        finished = true;
      });
    }
    assert.ok(finished, "finished");
  });

  test('a disposed group refuses go, tryGo and defer', async () => {
    const g = new Group(background());
    await g[Symbol.asyncDispose]();
    assert.throws(() => g.go(() => 1), GroupClosedError);
    assert.throws(() => g.tryGo(() => 1), GroupClosedError);
    assert.throws(() => g.defer(() => {}), GroupClosedError);
  });

  test('deferred cleanups run last-in-first-out, one at a time, after the tasks', async () => {
    const log: string[] = [];
    const g = new Group(background());
    g.go(async (ctx) => {
      await ctx.done;
      log.push('task');
    });
    let active = 0;
    for (const name of ['db', 'cache', 'client']) {
      g.defer(async () => {
        active++;
        assert.equal(active, 1, 'cleanups overlap');
        await ticks(1);
        log.push(name);
        active--;
      });
    }
    await g[Symbol.asyncDispose]();
    assert.deepEqual(log, ['task', 'client', 'cache', 'db']);
  });

  test('disposing rethrows the first task error, never the cancellation it caused', async () => {
    const boom = new Error('boom');
    const g = new Group(background(), { failFast: false });
    g.go(async () => {
      throw boom;
    });
    g.go(async (ctx) => {
      await ctx.done;
      throw ctx.err;
    });
    await ticks();
    await assert.rejects(g[Symbol.asyncDispose](), (e: unknown) => e instanceof AggregateError && e.errors[0] === boom && e.errors.length === 1);

    const quiet = new Group(background());
    quiet.go(async (ctx) => {
      await ctx.done;
      throw ctx.err;
    });
    await quiet[Symbol.asyncDispose](); // resolves: the only error is the disposal's own cancellation
  });

  test('tasks still running after stopTimeout are named with state and spawn site', async () => {
    configure({ spawnSites: 'always' });
    const g = new Group(background(), { name: 'intake', stopTimeout: 20 });
    const never = gate();
    g.go(() => never.promise, { name: 'stubborn-validation' });
    const keepAlive = setTimeout(() => {}, 5_000);
    try {
      await assert.rejects(g[Symbol.asyncDispose](), (e: unknown) => {
        assert.ok(e instanceof StopTimeoutError, "e instanceof StopTimeoutError");
        assert.equal(e.tasks.length, 1);
        assert.equal(e.tasks[0]?.name, 'stubborn-validation');
        assert.match(e.message, /stubborn-validation/);
        assert.match(e.tasks[0]?.spawnSite ?? '', /group\.test\.ts/);
        return true;
      });
      // Never silently dropped: the task is still in the registry.
      assert.ok(snapshot().tasks.some((t) => t.name === 'stubborn-validation'), "snapshot().tasks.some((t) => t.name === 'stubborn-validation')");
    } finally {
      clearTimeout(keepAlive);
      never.open();
      await ticks();
    }
  });
});

describe('bookkeeping', () => {
  test('100,000 finished tasks leave nothing on a long-lived parent or in the registry', async () => {
    const { ctx: parent, cancel } = withCancel(background());
    void parent.signal; // a parent whose signal is in use must not collect listeners either
    const before = liveCounts();
    const g = new Group(parent);
    for (let i = 0; i < 100_000; i++) g.go(async () => i);
    await g.wait();
    const g2 = new Group(parent);
    for (let i = 0; i < 1_000; i++) g2.go(async (ctx) => ctx.done).cancel();
    await g2.wait();
    assert.deepEqual(liveCounts(), before);
    assert.equal(inspectContext(parent)?.children, 0);
    cancel();
  });

  test('task exposes id, name, labels, state, parent and ctx, and is awaitable', async () => {
    const g = new Group(background(), { name: 'his' });
    let seen: Context | undefined;
    const t = g.go(async (ctx) => {
      seen = ctx;
      return 'ok';
    }, { name: 'his-sync', labels: { site: 'north' } });
    assert.equal(seen, t.ctx);
    assert.equal(typeof t.id, 'number');
    assert.equal(t.name, 'his-sync');
    assert.deepEqual(t.labels, { site: 'north' });
    assert.equal(t.parent, g);
    assert.equal(await t, 'ok');
    assert.equal(t.state, 'succeeded');
  });

  test('the task name defaults to the function name, else "task"', async () => {
    const g = new Group(background());
    async function scoreQuestionnaire(): Promise<void> {}
    assert.equal(g.go(scoreQuestionnaire).name, 'scoreQuestionnaire');
    assert.equal(g.go(() => 1).name, 'task');
    await g.wait();
  });

  test('a task awaiting group.wait shows "waiting: group.wait"', async () => {
    const outer = new Group(background());
    const inner = new Group(background());
    const hold = gate();
    inner.go(() => hold.promise);
    const waiter = outer.go(async (ctx) => inner.wait(ctx));
    await ticks();
    assert.equal(waiter.state, 'waiting: group.wait');
    hold.open();
    await outer.wait();
    assert.equal(waiter.state, 'succeeded');
  });
});

describe('tasks whose context derives from a caller context (internal spawn path used by every())', () => {
  test("a cancellation coming from the caller's context is the task's own, not a group failure", async () => {
    const g = new Group(background());
    const hold = gate();
    const sibling = g.go(() => hold.promise);
    const { ctx, cancel } = withCancel(background());
    const loop = g._spawn(async (c) => {
      await c.done;
      throw c.err;
    }, { name: 'loop' }, () => {}, false, ctx);
    cancel();
    await ticks();
    assert.equal(sibling.ctx.err, undefined, 'failFast must not fire');
    assert.equal(loop?.state, 'canceled');
    hold.open();
    await g.wait();
  });

  test("a queued task whose caller's context ends never starts and rejects with that context's error", async () => {
    const g = new Group(background(), { limit: 1 });
    const hold = gate();
    g.go(() => hold.promise);
    const { ctx, cancel } = withCancel(background());
    let started = false;
    const t = g._spawn(async () => {
      started = true;
    }, { name: 'q' }, () => {}, false, ctx);
    const why = new Error('caller gone');
    cancel(why);
    await assert.rejects(Promise.resolve(t), (e: unknown) => e instanceof CanceledError && e.cause === why);
    hold.open();
    await g.wait();
    assert.equal(started, false);
  });
});
