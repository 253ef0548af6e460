import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import {
  background,
  fromSignal,
  withCancel,
  withDeadline,
  withValue,
  type CancelFunc,
  type Context,
} from '../src/context.js';
import { CanceledError, DeadlineExceededError, InvalidStateError } from '../src/errors.js';
import { Group } from '../src/group.js';
import { go } from '../src/go.js';
import { Semaphore } from '../src/semaphore.js';
import { mulberry32 } from './helpers/random.js';
import { hanging, track, turn } from './helpers/schedule.js';


describe('Semaphore: construction and getters', () => {
  test('a size that is not a positive integer throws a RangeError naming size', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, '2', undefined]) {
      assert.throws(() => new Semaphore(bad as number), (e: unknown) => e instanceof RangeError && /size/.test(e.message));
    }
  });

  test('size is fixed, available counts free tokens and waiting counts blocked callers', async () => {
    const sem = new Semaphore(3);
    assert.equal(sem.size, 3);
    assert.equal(sem.available, 3);
    assert.equal(sem.waiting, 0);
    await sem.acquire(undefined, 2);
    assert.equal(sem.available, 1);
    const p = track(sem.acquire(undefined, 2));
    assert.equal(sem.waiting, 1);
    assert.equal(sem.available, 1, 'a waiter holds nothing');
    sem.release(2);
    await turn();
    assert.equal(p.state, 'resolved');
    assert.equal(sem.waiting, 0);
    assert.equal(sem.available, 1);
    assert.equal(sem.size, 3);
  });
});

describe('Semaphore: acquire and release', () => {
  test('acquire takes tokens at once while they are free, n defaulting to 1', async () => {
    const sem = new Semaphore(2);
    await sem.acquire();
    assert.equal(sem.available, 1);
    await sem.acquire(background());
    assert.equal(sem.available, 0);
  });

  test('acquire waits until enough tokens are released', async () => {
    const sem = new Semaphore(3);
    await sem.acquire(undefined, 3);
    const p = track(sem.acquire(undefined, 2));
    sem.release();
    await turn();
    assert.equal(p.state, 'pending', 'one free token is not enough for two');
    sem.release();
    await turn();
    assert.equal(p.state, 'resolved');
    assert.equal(sem.available, 0, 'the waiter took both released tokens');
  });

  test('waiters are served in arrival order', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: number[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => sem.acquire().then(() => order.push(i)));
    for (let i = 0; i < 5; i++) {
      sem.release();
      await turn();
      assert.deepEqual(order, [0, 1, 2, 3, 4].slice(0, i + 1), 'exactly one more waiter served per token');
    }
    await Promise.all(all);
  });

  test('a large waiter at the head holds back later smaller ones until it is served', async () => {
    const sem = new Semaphore(4);
    await sem.acquire(undefined, 3);
    const big = track(sem.acquire(undefined, 3));
    const small = track(sem.acquire(undefined, 1));
    await turn();
    assert.equal(sem.available, 1);
    assert.equal(small.state, 'pending', 'the small one fits but must not overtake the head');
    sem.release(1);
    await turn();
    assert.equal(big.state, 'pending');
    assert.equal(small.state, 'pending');
    sem.release(2);
    await turn();
    assert.equal(big.state, 'resolved');
    assert.equal(small.state, 'resolved', 'served right behind the head once it fits');
    assert.equal(sem.available, 0);
  });

  test('release serves every waiter that now fits, in order, in one go', async () => {
    const sem = new Semaphore(5);
    await sem.acquire(undefined, 5);
    const a = track(sem.acquire(undefined, 2));
    const b = track(sem.acquire(undefined, 2));
    const c = track(sem.acquire(undefined, 2));
    sem.release(5);
    await turn();
    assert.deepEqual([a.state, b.state, c.state], ['resolved', 'resolved', 'pending']);
    assert.equal(sem.available, 1);
  });

  test('releasing more tokens than are held throws InvalidStateError and releases nothing', async () => {
    const sem = new Semaphore(3);
    assert.throws(() => sem.release(), InvalidStateError);
    await sem.acquire(undefined, 2);
    assert.throws(() => sem.release(3), (e: unknown) => e instanceof InvalidStateError && /3/.test(e.message));
    assert.equal(sem.available, 1, 'the failed release changed nothing');
    sem.release(2);
    assert.equal(sem.available, 3);
    assert.throws(() => sem.release(), InvalidStateError);
  });

  test('acquire for more than the size rejects with a RangeError at once instead of hanging', async () => {
    const sem = new Semaphore(2);
    await assert.rejects(sem.acquire(undefined, 3), (e: unknown) => e instanceof RangeError && /\bn\b/.test(e.message));
    assert.equal(sem.waiting, 0, 'nothing queued');
    assert.equal(sem.available, 2);
    assert.throws(() => sem.tryAcquire(3), RangeError);
  });

  test('a weight that is not a positive integer is refused with a RangeError naming n', async () => {
    const sem = new Semaphore(4);
    for (const bad of [0, -1, 1.5, NaN, '1']) {
      await assert.rejects(sem.acquire(undefined, bad as number), (e: unknown) => e instanceof RangeError && /\bn\b/.test(e.message));
      assert.throws(() => sem.tryAcquire(bad as number), RangeError);
      assert.throws(() => sem.release(bad as number), RangeError);
    }
    assert.equal(sem.available, 4);
  });

  test('a weight passed where the context goes is refused with a TypeError', async () => {
    const sem = new Semaphore(4);
    await assert.rejects(sem.acquire(2 as unknown as Context), (e: unknown) => e instanceof TypeError && /ctx/.test(e.message));
    assert.equal(sem.available, 4);
  });
});

describe('Semaphore: tryAcquire', () => {
  test('tryAcquire takes free tokens and reports false when they are not free', () => {
    const sem = new Semaphore(3);
    assert.equal(sem.tryAcquire(2), true);
    assert.equal(sem.available, 1);
    assert.equal(sem.tryAcquire(2), false);
    assert.equal(sem.available, 1, 'a failed tryAcquire takes nothing');
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.available, 0);
  });

  test('tryAcquire never overtakes a queued waiter, even when its tokens are free', async () => {
    const sem = new Semaphore(3);
    await sem.acquire(undefined, 2);
    const big = track(sem.acquire(undefined, 3));
    assert.equal(sem.available, 1);
    assert.equal(sem.tryAcquire(1), false);
    assert.equal(sem.available, 1);
    sem.release(2);
    await turn();
    assert.equal(big.state, 'resolved');
  });
});

describe('Semaphore: contexts', () => {
  test('acquire with an already-done context rejects with its err even when tokens are free', async () => {
    const sem = new Semaphore(2);
    const { ctx, cancel } = withCancel(background());
    const cause = new Error('visit closed');
    cancel(cause);
    await assert.rejects(sem.acquire(ctx), (e: unknown) => e === ctx.err && (e as Error).cause === cause);
    const expired = withDeadline(background(), Date.now() - 1).ctx;
    await assert.rejects(sem.acquire(expired), DeadlineExceededError);
    assert.equal(sem.available, 2, 'no token taken');
    assert.equal(sem.waiting, 0);
  });

  test('a cancelled acquire rejects with ctx.err, gives its place back and leaks no tokens', async () => {
    const sem = new Semaphore(2);
    const parent = withCancel(background());
    await sem.acquire(undefined, 2);
    const { ctx, cancel } = withCancel(parent.ctx);
    const first = track(sem.acquire(ctx, 1));
    const second = track(sem.acquire(parent.ctx, 1));
    assert.equal(hanging(ctx), 1, 'the waiter hangs off its context while it waits');
    cancel();
    await turn();
    assert.equal(first.state, 'rejected');
    assert.equal(first.err, ctx.err);
    assert.ok(first.err instanceof CanceledError, "first.err instanceof CanceledError");
    assert.equal(sem.waiting, 1);
    assert.equal(hanging(ctx), 0);
    sem.release(1);
    await turn();
    assert.equal(second.state, 'resolved', 'the next in line took the place');
    sem.release(1);
    assert.equal(sem.available, 1, 'one held by second, none leaked to the cancelled one');
    sem.release(1);
    assert.equal(sem.available, 2);
    assert.equal(hanging(parent.ctx), 0, 'nothing left on the long-lived context');
  });

  test('cancelling the waiter at the head wakes the waiters behind it that now fit', async () => {
    const sem = new Semaphore(4);
    await sem.acquire(undefined, 2);
    const { ctx, cancel } = withCancel(background());
    const head = track(sem.acquire(ctx, 4));
    const a = track(sem.acquire(undefined, 1));
    const b = track(sem.acquire(undefined, 1));
    const c = track(sem.acquire(undefined, 1));
    await turn();
    assert.deepEqual([a.state, b.state, c.state], ['pending', 'pending', 'pending']);
    cancel();
    await turn();
    assert.equal(head.state, 'rejected');
    assert.deepEqual([a.state, b.state, c.state], ['resolved', 'resolved', 'pending']);
    assert.equal(sem.available, 0);
    assert.equal(sem.waiting, 1);
  });

  test('cancelling a waiter behind the head changes nothing for the others', async () => {
    const sem = new Semaphore(2);
    await sem.acquire(undefined, 2);
    const { ctx, cancel } = withCancel(background());
    const a = track(sem.acquire(undefined, 2));
    const mid = track(sem.acquire(ctx, 1));
    const b = track(sem.acquire(undefined, 1));
    cancel();
    await turn();
    assert.equal(mid.state, 'rejected');
    assert.deepEqual([a.state, b.state], ['pending', 'pending']);
    sem.release(2);
    await turn();
    assert.deepEqual([a.state, b.state], ['resolved', 'pending']);
    sem.release(2);
    await turn();
    assert.equal(b.state, 'resolved');
  });

  test('a waiter whose context is ending is never granted tokens, even by a release made inside that cancellation', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const parent = withCancel(background());
    // A child context: marked done by the parent's cancel before the parent's own abort listeners run.
    const child = withCancel(parent.ctx).ctx;
    const w = track(sem.acquire(child));
    parent.ctx.signal.addEventListener('abort', () => sem.release(), { once: true });
    parent.cancel();
    await turn();
    assert.equal(w.state, 'rejected');
    assert.equal(w.err, child.err);
    assert.equal(sem.available, 1, 'the released token went back to the pool, not to the ending waiter');
    assert.equal(sem.waiting, 0);
  });

  test('a context that values wrap works like the context it wraps', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const { ctx, cancel } = withCancel(background());
    const wrapped = withValue(ctx, Symbol('site'), 'S-01');
    const w = track(sem.acquire(wrapped));
    assert.equal(hanging(ctx), 1);
    cancel();
    await turn();
    assert.equal(w.state, 'rejected');
    assert.equal(w.err, ctx.err);
    assert.equal(hanging(ctx), 0);
  });

  test('an acquire bounded by fromSignal rejects on abort and leaves no abort listener once served', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ac = new AbortController();
    const ctx = fromSignal(ac.signal);
    const served = track(sem.acquire(ctx));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'listens while it waits');
    sem.release();
    await turn();
    assert.equal(served.state, 'resolved');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'a served wait leaves no listener');
    const aborted = track(sem.acquire(ctx));
    const reason = new Error('client gone');
    ac.abort(reason);
    await turn();
    assert.equal(aborted.state, 'rejected');
    assert.ok(aborted.err instanceof CanceledError, "aborted.err instanceof CanceledError");
    assert.equal((aborted.err as Error).cause, reason);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    sem.release();
    assert.equal(sem.available, 1);
  });

  test('an acquire bounded by a user-written context rejects on its end and leaves no listener once served', async () => {
    const inner = withCancel(background());
    // A context implemented by the user, delegating to another: corral can only reach it through its signal.
    const foreign: Context = {
      get signal() {
        return inner.ctx.signal;
      },
      get done() {
        return inner.ctx.done;
      },
      get err() {
        return inner.ctx.err;
      },
      get cause() {
        return inner.ctx.cause;
      },
      get deadline() {
        return inner.ctx.deadline;
      },
      value: (key: unknown) => inner.ctx.value(key),
      throwIfDone: () => inner.ctx.throwIfDone(),
    };
    const sem = new Semaphore(1);
    await sem.acquire();
    const served = track(sem.acquire(foreign));
    assert.equal(getEventListeners(inner.ctx.signal, 'abort').length, 1);
    sem.release();
    await turn();
    assert.equal(served.state, 'resolved');
    assert.equal(getEventListeners(inner.ctx.signal, 'abort').length, 0);
    const cut = track(sem.acquire(foreign));
    inner.cancel();
    await turn();
    assert.equal(cut.state, 'rejected');
    assert.equal(cut.err, inner.ctx.err);
    assert.equal(getEventListeners(inner.ctx.signal, 'abort').length, 0);
    assert.equal(sem.waiting, 0);
  });

  test('many cancelled waiters on one long-lived context leave nothing behind', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const parent = withCancel(background());
    const rand = mulberry32(7);
    const waiters = Array.from({ length: 2000 }, () => {
      const c = withCancel(parent.ctx);
      return { cancel: c.cancel, p: track(sem.acquire(rand() < 0.5 ? c.ctx : parent.ctx)), own: c.ctx };
    });
    // Cancel the ones on their own context in a random order: removal from the middle of the queue.
    const own = waiters.filter(() => rand() < 0.9);
    for (let i = own.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [own[i], own[j]] = [own[j]!, own[i]!];
    }
    for (const w of own) w.cancel();
    await turn();
    const left = waiters.filter((w) => w.p.state === 'pending');
    assert.equal(sem.waiting, left.length);
    for (const w of left) w.cancel();
    parent.cancel();
    await turn();
    assert.equal(sem.waiting, 0);
    assert.ok(waiters.every((w) => w.p.state === 'rejected'), "waiters.every((w) => w.p.state === 'rejected')");
    assert.equal(sem.available, 0, 'still only the first holder');
  });
});

describe('Semaphore: the registry', () => {
  test('a task blocked in acquire shows "waiting: semaphore", and "running" once served', async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const g = new Group(background());
    const seen: string[] = [];
    const task = g.go(async (ctx) => {
      await sem.acquire(ctx);
      seen.push(task.state);
      sem.release();
    });
    assert.equal(task.state, 'waiting: semaphore');
    await turn();
    assert.equal(task.state, 'waiting: semaphore', 'still waiting while no token is free');
    sem.release();
    await task;
    assert.deepEqual(seen, ['running']);
    await g.wait();
  });

  test('a task cancelled while blocked in acquire ends canceled and leaves the queue empty', async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const g = new Group(background());
    const task = g.go((ctx) => sem.acquire(ctx));
    assert.equal(task.state, 'waiting: semaphore');
    task.cancel();
    await assert.rejects(Promise.resolve(task), CanceledError);
    assert.equal(task.state, 'canceled');
    assert.equal(sem.waiting, 0);
    assert.equal(sem.available, 0);
    await g.wait();
  });

  test('without a context, the ambient task is the one shown waiting', async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const task = go(async () => {
      await sem.acquire();
      sem.release();
    });
    assert.equal(task.state, 'waiting: semaphore');
    sem.release();
    await task;
  });
});

describe('Semaphore: randomized schedules', () => {
  interface Node {
    ctx: Context;
    cancel: CancelFunc;
    parent: Node | undefined;
  }
  interface Op {
    id: number;
    n: number;
    ctx: Context | undefined;
    state: 'pending' | 'held' | 'released' | 'rejected';
    settles: number;
    err: unknown;
  }

  test('random acquires, cancels, releases and tryAcquires keep tokens conserved, FIFO order and nothing registered', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = mulberry32(seed);
      const int = (n: number): number => Math.floor(rand() * n);
      const size = 1 + int(6);
      const sem = new Semaphore(size);
      const root: Node = { ...withCancel(background()), parent: undefined };
      const nodes: Node[] = [root];
      const ops: Op[] = [];
      const grants: number[] = [];
      let tryHeld = 0;
      const where = (msg: string): string => `seed ${seed}: ${msg}`;

      const check = (): void => {
        const held = ops.reduce((s, o) => s + (o.state === 'held' ? o.n : 0), 0) + tryHeld;
        assert.equal(sem.available, size - held, where('tokens conserved'));
        assert.ok(sem.available >= 0 && sem.available <= size, where('available in range'));
        const pending = ops.filter((o) => o.state === 'pending');
        assert.equal(sem.waiting, pending.length, where('every unsettled acquire is queued, nothing lost'));
        if (pending.length > 0) assert.ok(pending[0]!.n > sem.available, where('no missed wake-up: the head does not fit'));
        for (const o of ops) {
          assert.ok(o.settles <= 1, where('settled once'));
          if (o.state === 'rejected') assert.ok(o.err !== undefined && o.err === o.ctx?.err, where('rejected with its ctx.err'));
        }
        for (let i = 1; i < grants.length; i++) assert.ok(grants[i - 1]! < grants[i]!, where('grants in arrival order'));
        // Each live context holds exactly its live children and the waiters blocked on it.
        for (const node of nodes) {
          if (node.ctx.err !== undefined) continue;
          const expected =
            nodes.filter((c) => c.parent === node && c.ctx.err === undefined).length +
            pending.filter((o) => o.ctx === node.ctx).length;
          assert.equal(hanging(node.ctx), expected, where('nothing left registered on a context'));
        }
      };

      for (let step = 0; step < 150; step++) {
        const r = rand();
        if (r < 0.1) {
          const parent = nodes[int(nodes.length)]!;
          if (parent.ctx.err === undefined) nodes.push({ ...withCancel(parent.ctx), parent });
        } else if (r < 0.45) {
          const node = rand() < 0.15 ? undefined : nodes[int(nodes.length)]!;
          const op: Op = { id: ops.length, n: 1 + int(size), ctx: node?.ctx, state: 'pending', settles: 0, err: undefined };
          ops.push(op);
          sem.acquire(op.ctx, op.n).then(
            () => {
              op.settles++;
              op.state = 'held';
              grants.push(op.id);
            },
            (e: unknown) => {
              op.settles++;
              op.state = 'rejected';
              op.err = e;
            },
          );
        } else if (r < 0.6) {
          // Cancelling an inner node ends every waiter under it in one cancellation.
          const node = nodes[1 + int(nodes.length - 1)];
          node?.cancel();
        } else if (r < 0.8) {
          const held = ops.filter((o) => o.state === 'held');
          const op = held[int(held.length)];
          if (op !== undefined) {
            sem.release(op.n);
            op.state = 'released';
          } else if (tryHeld > 0) {
            sem.release(1);
            tryHeld--;
          }
        } else if (r < 0.9) {
          await turn();
          const n = 1 + int(size);
          const free = sem.available;
          const queued = ops.some((o) => o.state === 'pending');
          const got = sem.tryAcquire(n);
          assert.equal(got, !queued && free >= n, where('tryAcquire succeeds exactly when nobody waits and it fits'));
          if (got) tryHeld += n;
        } else {
          await turn();
          check();
        }
      }
      await turn();
      check();

      // Drain: end every context but the root, then release until nobody waits.
      for (const node of nodes.slice(1)) node.cancel();
      for (let guard = 0; ; guard++) {
        await turn();
        check();
        if (!ops.some((o) => o.state === 'pending' || o.state === 'held') && tryHeld === 0) break;
        assert.ok(guard < 1000, where('drains'));
        for (const o of ops) {
          if (o.state === 'held') {
            sem.release(o.n);
            o.state = 'released';
          }
        }
        if (tryHeld > 0) {
          sem.release(tryHeld);
          tryHeld = 0;
        }
      }
      assert.equal(sem.available, size, where('every token back'));
      assert.equal(sem.waiting, 0, where('nobody queued'));
      assert.equal(hanging(root.ctx), 0, where('nothing left on the long-lived root'));
      assert.ok(ops.every((o) => o.settles === 1), where('every acquire settled exactly once'));
    }
  });
});
