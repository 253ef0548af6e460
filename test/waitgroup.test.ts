import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import {
  background,
  fromSignal,
  withCancel,
  withDeadline,
  type CancelFunc,
  type Context,
} from '../src/context.js';
import { CanceledError, DeadlineExceededError, InvalidStateError } from '../src/errors.js';
import { Group } from '../src/group.js';
import { WaitGroup } from '../src/waitgroup.js';
import { mulberry32 } from './helpers/random.js';
import { hanging, track, turn } from './helpers/schedule.js';


describe('WaitGroup: counting', () => {
  test('a new WaitGroup is ready to use and wait resolves at once on a zero counter', async () => {
    const wg = new WaitGroup();
    assert.equal(wg.count, 0);
    const w = track(wg.wait());
    await turn();
    assert.equal(w.state, 'resolved');
  });

  test('count follows add and done, add defaulting to 1', () => {
    const wg = new WaitGroup();
    wg.add();
    assert.equal(wg.count, 1);
    wg.add(3);
    assert.equal(wg.count, 4);
    wg.add(-2);
    assert.equal(wg.count, 2);
    wg.done();
    assert.equal(wg.count, 1);
  });

  test('a waiter wakes only when the counter reaches zero, never on the way down', async () => {
    const wg = new WaitGroup();
    wg.add(3);
    const w = track(wg.wait());
    wg.done();
    await turn();
    assert.equal(w.state, 'pending');
    wg.add(1);
    wg.done();
    wg.done();
    await turn();
    assert.equal(w.state, 'pending', 'one left');
    wg.done();
    await turn();
    assert.equal(w.state, 'resolved');
  });

  test('every waiter wakes when the counter reaches zero', async () => {
    const wg = new WaitGroup();
    wg.add(2);
    const ws = Array.from({ length: 5 }, () => track(wg.wait()));
    wg.add(-2);
    await turn();
    assert.ok(ws.every((w) => w.state === 'resolved'), "ws.every((w) => w.state === 'resolved')");
  });

  test('going below zero throws InvalidStateError and leaves the counter and the waiters as they were', async () => {
    const wg = new WaitGroup();
    assert.throws(() => wg.done(), InvalidStateError);
    assert.equal(wg.count, 0);
    wg.add(1);
    const w = track(wg.wait());
    assert.throws(() => wg.add(-2), (e: unknown) => e instanceof InvalidStateError && /below zero/.test(e.message));
    assert.equal(wg.count, 1);
    await turn();
    assert.equal(w.state, 'pending', 'a refused add wakes nobody');
    wg.done();
    assert.throws(() => wg.done(), InvalidStateError);
    await turn();
    assert.equal(w.state, 'resolved');
  });

  test('add with a non-integer throws a RangeError naming n and changes nothing', () => {
    const wg = new WaitGroup();
    for (const bad of [1.5, NaN, Infinity, -Infinity, '1', null]) {
      assert.throws(() => wg.add(bad as number), (e: unknown) => e instanceof RangeError && /\bn\b/.test(e.message));
    }
    assert.equal(wg.count, 0);
  });

  test('a WaitGroup is reusable: a new round waits for its own count, not the old one', async () => {
    const wg = new WaitGroup();
    for (let round = 0; round < 3; round++) {
      wg.add(2);
      const w = track(wg.wait());
      wg.done();
      await turn();
      assert.equal(w.state, 'pending', `round ${round}`);
      wg.done();
      await turn();
      assert.equal(w.state, 'resolved', `round ${round}`);
      assert.equal(wg.count, 0);
    }
  });

  test('a waiter of the next round is not woken by the previous round reaching zero', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const first = track(wg.wait());
    wg.done(); // round one ends: the first waiter is released now
    wg.add(1); // round two starts before the first waiter's callback has even run
    const second = track(wg.wait());
    await turn();
    assert.equal(first.state, 'resolved');
    assert.equal(second.state, 'pending');
    wg.done();
    await turn();
    assert.equal(second.state, 'resolved');
  });

  test('a context passed where none is expected is refused with a TypeError', async () => {
    const wg = new WaitGroup();
    wg.add();
    await assert.rejects(wg.wait(5 as unknown as Context), (e: unknown) => e instanceof TypeError && /ctx/.test(e.message));
  });
});

describe('WaitGroup: contexts', () => {
  test('wait rejects with ctx.err when the context ends first, and the others keep waiting', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const { ctx, cancel } = withCancel(background());
    const bounded = track(wg.wait(ctx));
    const other = track(wg.wait());
    const cause = new Error('shutdown');
    cancel(cause);
    await turn();
    assert.equal(bounded.state, 'rejected');
    assert.equal(bounded.err, ctx.err);
    assert.ok(bounded.err instanceof CanceledError, "bounded.err instanceof CanceledError");
    assert.equal((bounded.err as Error).cause, cause);
    assert.equal(other.state, 'pending');
    assert.equal(wg.count, 1, 'a cancelled wait does not touch the counter');
    wg.done();
    await turn();
    assert.equal(other.state, 'resolved');
  });

  test('a cancelled wait leaves nothing registered on a long-lived context, nor does a completed one', async () => {
    const parent = withCancel(background());
    const wg = new WaitGroup();
    wg.add(1);
    const children = Array.from({ length: 100 }, () => withCancel(parent.ctx));
    const direct = track(wg.wait(parent.ctx));
    const ws = children.map((c) => track(wg.wait(c.ctx)));
    assert.equal(hanging(parent.ctx), 101);
    for (const c of children) c.cancel();
    await turn();
    assert.ok(ws.every((w) => w.state === 'rejected'), "ws.every((w) => w.state === 'rejected')");
    assert.equal(hanging(parent.ctx), 1, 'only the direct waiter is left');
    wg.done();
    await turn();
    assert.equal(direct.state, 'resolved');
    assert.equal(hanging(parent.ctx), 0);
  });

  test('wait with an already-done context rejects at once while the counter is above zero', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const { ctx } = withDeadline(background(), Date.now() - 1);
    await assert.rejects(wg.wait(ctx), (e: unknown) => e === ctx.err && e instanceof DeadlineExceededError);
    assert.equal(hanging(ctx), 0);
  });

  test('wait with an already-done context resolves when the counter is zero: there is nothing to wait for', async () => {
    const wg = new WaitGroup();
    const { ctx, cancel } = withCancel(background());
    cancel();
    await wg.wait(ctx);
  });

  test('a wait bounded by fromSignal rejects on abort and leaves no abort listener once it wakes', async () => {
    const ac = new AbortController();
    const ctx = fromSignal(ac.signal);
    const wg = new WaitGroup();
    wg.add(1);
    const woken = track(wg.wait(ctx));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    wg.done();
    await turn();
    assert.equal(woken.state, 'resolved');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    wg.add(1);
    const cut = track(wg.wait(ctx));
    ac.abort();
    await turn();
    assert.equal(cut.state, 'rejected');
    assert.equal(cut.err, ctx.err);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });
});

describe('WaitGroup: the registry', () => {
  test('a task blocked in wait shows "waiting: waitgroup", and "running" once the counter is zero', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const g = new Group(background());
    const seen: string[] = [];
    const task = g.go(async (ctx) => {
      await wg.wait(ctx);
      seen.push(task.state);
    });
    assert.equal(task.state, 'waiting: waitgroup');
    await turn();
    assert.equal(task.state, 'waiting: waitgroup');
    wg.done();
    await task;
    assert.deepEqual(seen, ['running']);
    await g.wait();
  });

  test('a task cancelled while blocked in wait ends canceled and leaves the counter alone', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const g = new Group(background());
    const seen: string[] = [];
    const task = g.go(async (ctx) => {
      try {
        await wg.wait(ctx);
      } finally {
        seen.push(task.state);
      }
    });
    assert.equal(task.state, 'waiting: waitgroup');
    task.cancel();
    await assert.rejects(Promise.resolve(task), CanceledError);
    assert.deepEqual(seen, ['running'], 'the wait state is given back before the task goes on');
    assert.equal(task.state, 'canceled');
    assert.equal(wg.count, 1);
    await g.wait();
  });
});

describe('WaitGroup: randomized schedules', () => {
  interface Node {
    ctx: Context;
    cancel: CancelFunc;
    parent: Node | undefined;
  }
  interface W {
    ctx: Context | undefined;
    /** Decided by the model the moment it happens: 'resolve' when the counter hit zero first, 'reject' when the ctx ended first. */
    expected: 'resolve' | 'reject' | undefined;
    state: 'pending' | 'resolved' | 'rejected';
    settles: number;
    err: unknown;
  }

  test('random adds, dones, waits and cancels: waiters wake exactly when zero comes before their context ends', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = mulberry32(seed);
      const int = (n: number): number => Math.floor(rand() * n);
      const where = (msg: string): string => `seed ${seed}: ${msg}`;
      const wg = new WaitGroup();
      const root: Node = { ...withCancel(background()), parent: undefined };
      const nodes: Node[] = [root];
      const ws: W[] = [];
      let count = 0;

      const reachedZero = (): void => {
        for (const w of ws) if (w.expected === undefined) w.expected = 'resolve';
      };
      const contextsEnded = (): void => {
        for (const w of ws) if (w.expected === undefined && w.ctx?.err !== undefined) w.expected = 'reject';
      };
      const check = (): void => {
        assert.equal(wg.count, count, where('count'));
        for (const w of ws) {
          assert.ok(w.settles <= 1, where('settled once'));
          if (w.expected === undefined) assert.equal(w.state, 'pending', where('no spurious wake-up'));
          else assert.equal(w.state, w.expected === 'resolve' ? 'resolved' : 'rejected', where('woken or rejected as decided'));
          if (w.state === 'rejected') assert.equal(w.err, w.ctx?.err, where("rejected with its ctx's err"));
        }
        const live = ws.filter((w) => w.expected === undefined);
        for (const node of nodes) {
          if (node.ctx.err !== undefined) continue;
          const expected =
            nodes.filter((c) => c.parent === node && c.ctx.err === undefined).length + live.filter((w) => w.ctx === node.ctx).length;
          assert.equal(hanging(node.ctx), expected, where('nothing left registered on a context'));
        }
      };

      for (let step = 0; step < 150; step++) {
        const r = rand();
        if (r < 0.08) {
          const parent = nodes[int(nodes.length)]!;
          if (parent.ctx.err === undefined) nodes.push({ ...withCancel(parent.ctx), parent });
        } else if (r < 0.25) {
          const k = 1 + int(3);
          wg.add(k);
          count += k;
        } else if (r < 0.45) {
          if (count === 0) {
            assert.throws(() => wg.done(), InvalidStateError, where('done below zero'));
          } else {
            if (rand() < 0.7) wg.done();
            else wg.add(-1);
            if (--count === 0) reachedZero();
          }
        } else if (r < 0.5) {
          const k = count + 1 + int(2);
          assert.throws(() => wg.add(-k), InvalidStateError, where('add below zero'));
        } else if (r < 0.75) {
          const node = rand() < 0.15 ? undefined : nodes[int(nodes.length)]!;
          const w: W = { ctx: node?.ctx, expected: undefined, state: 'pending', settles: 0, err: undefined };
          if (count === 0) w.expected = 'resolve';
          else if (w.ctx?.err !== undefined) w.expected = 'reject';
          ws.push(w);
          wg.wait(w.ctx).then(
            () => {
              w.settles++;
              w.state = 'resolved';
            },
            (e: unknown) => {
              w.settles++;
              w.state = 'rejected';
              w.err = e;
            },
          );
        } else if (r < 0.88) {
          nodes[1 + int(nodes.length - 1)]?.cancel();
          contextsEnded();
        } else {
          await turn();
          check();
        }
      }
      await turn();
      check();

      for (const node of nodes.slice(1)) node.cancel();
      contextsEnded();
      if (count > 0) {
        wg.add(-count);
        count = 0;
        reachedZero();
      }
      await turn();
      check();
      assert.ok(ws.every((w) => w.settles === 1), where('every wait settled exactly once'));
      assert.equal(hanging(root.ctx), 0, where('nothing left on the long-lived root'));
    }
  });
});
