import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { background, fromSignal, withCancel, withTimeout, type Context } from '../src/context.js';
import { CanceledError, ChannelClosedError, DeadlineExceededError } from '../src/errors.js';
import { Group } from '../src/group.js';
import { go } from '../src/go.js';
import { Channel } from '../src/channel.js';
import { setClock, YIELD_BUDGET, YIELD_SLICE_MS } from '../src/fairness.js';
import { select } from '../src/select.js';
import { snapshot } from '../src/registry.js';
import { inspectContext } from '../src/context.js';
import { mulberry32 } from './helpers/random.js';
import { hanging, ticks, track, turn } from './helpers/schedule.js';

const isClosedErr = (e: unknown): boolean =>
  e instanceof ChannelClosedError && e.code === 'ERR_CORRAL_CHANNEL_CLOSED';

describe('Channel: construction and getters', () => {
  test('a negative or non-integer capacity throws a RangeError naming capacity', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, '2', null]) {
      assert.throws(() => new Channel(bad as number), (e: unknown) => e instanceof RangeError && /capacity/.test(e.message));
    }
  });

  test('capacity defaults to 0, name to empty; both are kept', () => {
    const a = new Channel<number>();
    assert.equal(a.capacity, 0);
    assert.equal(a.name, '');
    const b = new Channel<number>(8, { name: 'submissions' });
    assert.equal(b.capacity, 8);
    assert.equal(b.name, 'submissions');
    assert.throws(() => new Channel(1, { name: 3 as unknown as string }), TypeError);
  });

  test('length counts buffered values', async () => {
    const ch = new Channel<number>(3);
    assert.equal(ch.length, 0);
    await ch.send(1);
    await ch.send(2);
    assert.equal(ch.length, 2);
    await ch.recv();
    assert.equal(ch.length, 1);
  });
});

describe('Channel: send and receive', () => {
  test('an unbuffered send waits until a receiver takes the value', async () => {
    const ch = new Channel<string>();
    const s = track(ch.send('a'));
    await turn();
    assert.equal(s.state, 'pending', 'no receiver yet');
    assert.equal(ch.length, 0, 'an unbuffered channel buffers nothing');
    assert.deepEqual(await ch.recv(), { value: 'a', ok: true });
    await turn();
    assert.equal(s.state, 'resolved');
  });

  test('a receive waits until a value is sent', async () => {
    const ch = new Channel<string>();
    const r = ch.recv();
    const t = track(r);
    await turn();
    assert.equal(t.state, 'pending');
    await ch.send('x');
    assert.deepEqual(await r, { value: 'x', ok: true });
  });

  test('a buffered send resolves at once while there is room, then waits', async () => {
    const ch = new Channel<number>(2);
    await ch.send(1);
    await ch.send(2);
    const third = track(ch.send(3));
    await turn();
    assert.equal(third.state, 'pending', 'the buffer is full');
    assert.deepEqual(await ch.recv(), { value: 1, ok: true });
    await turn();
    assert.equal(third.state, 'resolved', 'the freed slot took the waiting value');
    assert.equal(ch.length, 2);
    assert.deepEqual(await ch.recv(), { value: 2, ok: true });
    assert.deepEqual(await ch.recv(), { value: 3, ok: true });
  });

  test('values come out in send order through the buffer and the waiting senders', async () => {
    const ch = new Channel<number>(3);
    const sends = Array.from({ length: 10 }, (_, i) => ch.send(i));
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await ch.recv()).value as number);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await Promise.all(sends);
  });

  test('blocked senders are served first come, first served', async () => {
    const ch = new Channel<number>();
    const done: number[] = [];
    const sends = [0, 1, 2, 3].map((i) => ch.send(i).then(() => done.push(i)));
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await ch.recv(), { value: i, ok: true });
      await turn();
      assert.deepEqual(done, [0, 1, 2, 3].slice(0, i + 1), 'exactly the oldest sender was served');
    }
    await Promise.all(sends);
  });

  test('blocked receivers are served first come, first served', async () => {
    const ch = new Channel<string>(1);
    const got: Array<[number, unknown]> = [];
    const recvs = [0, 1, 2].map((i) => ch.recv().then((r) => got.push([i, r.value])));
    await ch.send('a');
    await ch.send('b');
    await ch.send('c');
    await Promise.all(recvs);
    assert.deepEqual(got, [
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
    assert.equal(ch.length, 0, 'values went straight to the receivers');
  });

  test('a value passed by reference arrives as the same object', async () => {
    const ch = new Channel<{ id: number }>(1);
    const o = { id: 1 };
    await ch.send(o);
    assert.equal((await ch.recv()).value, o);
  });

  test('a large buffer drained past its compaction point keeps order and length', async () => {
    const ch = new Channel<number>(5000);
    for (let i = 0; i < 5000; i++) assert.equal(ch.trySend(i), true, 'room in the buffer');
    const got: number[] = [];
    for (let i = 0; i < 3000; i++) got.push((ch.tryRecv() as { value: number }).value);
    for (let i = 5000; i < 8000; i++) assert.equal(ch.trySend(i), true, 'room again');
    assert.equal(ch.length, 5000);
    for (;;) {
      const r = ch.tryRecv();
      if (!r.ok) break;
      got.push(r.value);
    }
    assert.deepEqual(got, Array.from({ length: 8000 }, (_, i) => i));
  });
});

describe('Channel: close', () => {
  test('buffered values drain in order after close, then every receive reports ok=false at once, forever', async () => {
    const ch = new Channel<number>(3);
    await ch.send(1);
    await ch.send(2);
    ch.close();
    assert.equal(ch.closed, true);
    assert.deepEqual(await ch.recv(), { value: 1, ok: true });
    assert.deepEqual(ch.tryRecv(), { value: 2, ok: true });
    for (let i = 0; i < 3; i++) {
      const r = track(ch.recv());
      await Promise.resolve();
      await Promise.resolve();
      assert.equal(r.state, 'resolved', 'a receive on a closed, drained channel never waits');
      assert.deepEqual(await ch.recv(), { value: undefined, ok: false });
    }
  });

  test('close wakes every blocked receiver with ok=false', async () => {
    const ch = new Channel<number>();
    const rs = [ch.recv(), ch.recv(), ch.recv()];
    ch.close();
    for (const r of await Promise.all(rs)) assert.deepEqual(r, { value: undefined, ok: false });
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
  });

  test('close rejects every blocked sender with ChannelClosedError and discards their values', async () => {
    const ch = new Channel<number>(1);
    await ch.send(0);
    const ss = [ch.send(1), ch.send(2)];
    ch.close();
    for (const s of ss) await assert.rejects(s, isClosedErr);
    assert.deepEqual(await ch.recv(), { value: 0, ok: true }, 'the buffered value still drains');
    assert.deepEqual(await ch.recv(), { value: undefined, ok: false }, 'the blocked senders\' values are gone');
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
  });

  test('send and trySend after close throw ChannelClosedError', async () => {
    const ch = new Channel<number>(4);
    ch.close();
    await assert.rejects(ch.send(1), isClosedErr);
    assert.throws(() => ch.trySend(1), isClosedErr);
    assert.equal(ch.length, 0);
  });

  test('send on a closed channel throws even with a done context', async () => {
    const ch = new Channel<number>(4);
    const { ctx, cancel } = withCancel(background());
    cancel();
    ch.close();
    await assert.rejects(ch.send(1, ctx), isClosedErr);
  });

  test('closing twice throws ChannelClosedError', () => {
    const ch = new Channel<number>();
    ch.close();
    assert.throws(() => ch.close(), (e: unknown) => isClosedErr(e) && /close of closed channel/.test((e as Error).message));
  });
});

describe('Channel: trySend and tryRecv', () => {
  test('trySend succeeds while a receiver waits or the buffer has room, else reports false', async () => {
    const un = new Channel<number>();
    assert.equal(un.trySend(1), false, 'nobody to take it');
    const r = un.recv();
    assert.equal(un.trySend(2), true, 'a receiver waits');
    assert.deepEqual(await r, { value: 2, ok: true });
    const b = new Channel<number>(1);
    assert.equal(b.trySend(1), true);
    assert.equal(b.trySend(2), false, 'full');
    assert.equal(b.length, 1);
  });

  test('tryRecv takes from the buffer or a waiting sender, else tells "would block" from "closed"', async () => {
    const ch = new Channel<number>();
    assert.deepEqual(ch.tryRecv(), { value: undefined, ok: false, closed: false });
    const s = track(ch.send(7));
    assert.deepEqual(ch.tryRecv(), { value: 7, ok: true });
    await turn();
    assert.equal(s.state, 'resolved', 'the sender was released');
    ch.close();
    assert.deepEqual(ch.tryRecv(), { value: undefined, ok: false, closed: true });
  });

  test('tryRecv on a closed channel with buffered values still returns them', () => {
    const ch = new Channel<number>(2);
    ch.trySend(1);
    ch.close();
    assert.deepEqual(ch.tryRecv(), { value: 1, ok: true });
    assert.deepEqual(ch.tryRecv(), { value: undefined, ok: false, closed: true });
  });
});

describe('Channel: contexts', () => {
  test('a blocked recv rejects with ctx.err when its context ends and leaves nothing queued', async () => {
    const ch = new Channel<number>();
    const { ctx, cancel } = withCancel(background());
    const cause = new Error('patient withdrew');
    const r = track(ch.recv(ctx));
    assert.equal(hanging(ctx), 1);
    cancel(cause);
    await turn();
    assert.equal(r.state, 'rejected');
    assert.equal(r.err, ctx.err);
    assert.ok(r.err instanceof CanceledError, 'rejects with a CanceledError');
    assert.equal((r.err as Error).cause, cause);
    assert.equal(hanging(ctx), 0, 'nothing left on the context');
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
  });

  test('a value sent after a receiver gave up goes to the next receiver, none lost or duplicated', async () => {
    const ch = new Channel<number>();
    const a = withCancel(background());
    const first = track(ch.recv(a.ctx));
    const second = ch.recv();
    a.cancel();
    assert.equal(ch.trySend(42), true, 'the live receiver takes it');
    assert.deepEqual(await second, { value: 42, ok: true });
    await turn();
    assert.equal(first.state, 'rejected');
    assert.deepEqual(ch.tryRecv(), { value: undefined, ok: false, closed: false }, 'nothing duplicated');
  });

  test('a blocked send rejects with ctx.err when its context ends; its value is never received', async () => {
    const ch = new Channel<string>();
    const { ctx } = withTimeout(background(), 5);
    const keepAlive = setTimeout(() => {}, 10_000); // the context's timer is unref'd
    await assert.rejects(ch.send('lost', ctx), DeadlineExceededError);
    clearTimeout(keepAlive);
    assert.equal(hanging(ctx), 0);
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    const next = ch.send('kept');
    assert.deepEqual(await ch.recv(), { value: 'kept', ok: true });
    await next;
  });

  test('a cancelled sender in the middle of the queue keeps the others in order', async () => {
    const ch = new Channel<number>();
    const mid = withCancel(background());
    const s0 = ch.send(0);
    const s1 = track(ch.send(1, mid.ctx));
    const s2 = ch.send(2);
    mid.cancel();
    await turn();
    assert.equal(s1.state, 'rejected');
    assert.deepEqual(await ch.recv(), { value: 0, ok: true });
    assert.deepEqual(await ch.recv(), { value: 2, ok: true });
    await Promise.all([s0, s2]);
  });

  test('send and recv with an already-done context reject at once, even when they could proceed', async () => {
    const ch = new Channel<number>(1);
    const { ctx, cancel } = withCancel(background());
    cancel();
    await assert.rejects(ch.send(1, ctx), CanceledError);
    assert.equal(ch.length, 0, 'nothing was sent');
    ch.trySend(2);
    await assert.rejects(ch.recv(ctx), CanceledError);
    assert.equal(ch.length, 1, 'nothing was taken');
  });

  test('a waiter whose context is done but not yet told is skipped, never handed a value', async () => {
    const ch = new Channel<number>();
    const parent = withCancel(background());
    // A child context is marked done by the parent's cancel before the parent's abort listeners
    // run, and told (its waiters failed) only after them.
    const child = withCancel(parent.ctx).ctx;
    const gone = track(ch.recv(child));
    const live = ch.recv();
    let sent: boolean | undefined;
    parent.ctx.signal.addEventListener('abort', () => (sent = ch.trySend(5)), { once: true });
    parent.cancel();
    assert.equal(sent, true, 'the live receiver took it');
    assert.deepEqual(await live, { value: 5, ok: true });
    await turn();
    assert.equal(gone.state, 'rejected');
    assert.equal(gone.err, child.err);
    // The same for senders: a receive made in the window takes from the next live sender.
    const p2 = withCancel(background());
    const c2 = withCancel(p2.ctx).ctx;
    const goneSend = track(ch.send(1, c2));
    const liveSend = ch.send(2);
    let got: unknown;
    p2.ctx.signal.addEventListener('abort', () => (got = ch.tryRecv()), { once: true });
    p2.cancel();
    assert.deepEqual(got, { value: 2, ok: true });
    await liveSend;
    await turn();
    assert.equal(goneSend.state, 'rejected');
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
  });

  test('a blocked recv bounded by fromSignal rejects on abort and leaves no abort listener', async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const ctx = fromSignal(ac.signal);
    const served = ch.recv(ctx);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'listens while it waits');
    ch.trySend(1);
    await served;
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'a served wait leaves no listener');
    const aborted = track(ch.recv(ctx));
    ac.abort();
    await turn();
    assert.equal(aborted.state, 'rejected');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
  });

  test('a served send or recv leaves nothing on its context', async () => {
    const ch = new Channel<number>();
    const { ctx } = withCancel(background());
    const r = ch.recv(ctx);
    assert.equal(hanging(ctx), 1);
    await ch.send(1, ctx);
    await r;
    assert.equal(hanging(ctx), 0);
    const s = ch.send(2, ctx);
    assert.equal(hanging(ctx), 1);
    await ch.recv(ctx);
    await s;
    assert.equal(hanging(ctx), 0);
  });

  test('a non-context where ctx goes is refused with a TypeError', async () => {
    const ch = new Channel<number>(1);
    await assert.rejects(ch.send(1, 5 as unknown as Context), TypeError);
    await assert.rejects(ch.recv({} as Context), TypeError);
    assert.equal(ch.length, 0);
  });
});

describe('Channel: for await', () => {
  test('iterates in order and ends when the channel is closed and drained', async () => {
    const ch = new Channel<number>(2);
    const producer = (async () => {
      for (let i = 0; i < 5; i++) await ch.send(i);
      ch.close();
    })();
    const got: number[] = [];
    for await (const v of ch) got.push(v);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    await producer;
  });

  test('breaking out of the loop leaves no waiter and loses no value', async () => {
    const ch = new Channel<number>(4);
    for (let i = 0; i < 4; i++) ch.trySend(i);
    const got: number[] = [];
    for await (const v of ch) {
      got.push(v);
      if (v === 1) break;
    }
    assert.deepEqual(got, [0, 1]);
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    assert.deepEqual(ch.tryRecv(), { value: 2, ok: true }, 'the rest stays in the channel');
  });

  test('throwing out of the loop leaves no waiter', async () => {
    const ch = new Channel<number>(1);
    ch.trySend(1);
    await assert.rejects(
      (async () => {
        for await (const _v of ch) throw new Error('boom');
      })(),
      /boom/,
    );
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    assert.equal(ch.trySend(2), true, 'the channel is still usable');
  });
});

describe('Channel: range(ctx)', () => {
  test('iterates in order and ends when the channel is closed and drained', async () => {
    const ch = new Channel<number>(2);
    const { ctx, cancel } = withCancel(background());
    const got: number[] = [];
    const done = (async () => {
      for await (const v of ch.range(ctx)) got.push(v);
    })();
    for (let i = 0; i < 5; i++) await ch.send(i);
    ch.close();
    await done;
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.equal(hanging(ctx), 0, 'nothing left on the context');
    cancel();
  });

  test('rejects with ctx.err when the context ends while it waits, leaving no waiter', async () => {
    const ch = new Channel<number>();
    const { ctx, cancel } = withCancel(background());
    const got: number[] = [];
    const done = (async () => {
      for await (const v of ch.range(ctx)) got.push(v);
    })();
    await ch.send(1);
    await turn();
    cancel(new Error('shutdown'));
    await assert.rejects(done, (e: unknown) => e === ctx.err && e instanceof CanceledError);
    assert.deepEqual(got, [1]);
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    assert.equal(ch.trySend(2), false, 'no receiver is left to take a value');
  });

  test('with a context already done, the first step rejects at once', async () => {
    const ch = new Channel<number>(1);
    await ch.send(1);
    const { ctx, cancel } = withCancel(background());
    cancel();
    await assert.rejects(ch.range(ctx).next(), CanceledError);
    assert.equal(ch.length, 1, 'nothing was taken');
  });

  test('breaking out early leaves no waiter and loses no value', async () => {
    const ch = new Channel<number>(4);
    const { ctx, cancel } = withCancel(background());
    for (let i = 0; i < 4; i++) await ch.send(i);
    for await (const v of ch.range(ctx)) if (v === 1) break;
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    assert.equal(hanging(ctx), 0);
    assert.deepEqual(await ch.recv(), { value: 2, ok: true }, 'the next value is still there');
    cancel();
  });

  test('return() while a receive is pending cancels it: the next() ends, no value is taken', async () => {
    const ch = new Channel<number>();
    const { ctx, cancel } = withCancel(background());
    const it = ch.range(ctx);
    const pending = it.next();
    await turn();
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 1 });
    assert.equal(hanging(ctx), 1);
    assert.deepEqual(await it.return?.(), { value: undefined, done: true });
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    assert.equal(hanging(ctx), 0, 'nothing left on the context');
    assert.equal(ch.trySend(9), false, 'the abandoned receive takes nothing');
    assert.deepEqual(await it.next(), { value: undefined, done: true }, 'a returned iterator stays done');
    cancel();
  });

  test('works without a context and refuses a non-context', async () => {
    const ch = new Channel<number>(1);
    await ch.send(7);
    ch.close();
    const got: number[] = [];
    for await (const v of ch.range()) got.push(v);
    assert.deepEqual(got, [7]);
    assert.throws(() => ch.range({} as Context), TypeError);
  });
});

describe('Channel: the registry', () => {
  test('a task blocked in recv shows "waiting: chan receive", then "running"', async () => {
    const ch = new Channel<number>();
    const g = new Group(background());
    const seen: string[] = [];
    const task = g.go(async (ctx) => {
      await ch.recv(ctx);
      seen.push(task.state);
    });
    assert.equal(task.state, 'waiting: chan receive');
    await ch.send(1);
    await task;
    assert.deepEqual(seen, ['running']);
    await g.wait();
  });

  test('a task blocked in send shows "waiting: chan send"; cancelling it leaves the queue empty', async () => {
    const ch = new Channel<number>();
    const g = new Group(background());
    const task = g.go((ctx) => ch.send(1, ctx));
    assert.equal(task.state, 'waiting: chan send');
    task.cancel();
    await assert.rejects(Promise.resolve(task), CanceledError);
    assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 });
    await g.wait();
  });

  test('without a context, the ambient task is the one shown waiting', async () => {
    const ch = new Channel<number>();
    const task = go(async () => {
      await ch.recv();
    });
    assert.equal(task.state, 'waiting: chan receive');
    ch.close();
    await task;
  });
});

describe('Channel: fairness with the event loop', () => {
  // Without the yielding policy these loops never leave the microtask queue: the timer never
  // fires and the bound below turns the hang into a failure.
  const BOUND = 200 * YIELD_BUDGET;

  test('a tight ping-pong over unbuffered channels lets a setTimeout(0) fire and cancel it', async () => {
    const ping = new Channel<number>();
    const pong = new Channel<number>();
    const { ctx, cancel } = withCancel(background());
    let messages = 0;
    let fired = false;
    setTimeout(() => {
      fired = true;
      cancel();
    }, 0);
    const g = new Group(ctx);
    const loop = async (c: Context, rx: Channel<number>, tx: Channel<number>, first: boolean): Promise<void> => {
      if (first) await tx.send(0, c);
      for (;;) {
        const { value } = await rx.recv(c);
        if (++messages > BOUND) throw new Error(`starved: ${messages} messages and the timer has not fired`);
        await tx.send((value as number) + 1, c);
      }
    };
    g.go((c) => loop(c, pong, ping, true));
    g.go((c) => loop(c, ping, pong, false));
    await assert.rejects(g.wait(), CanceledError);
    assert.ok(fired, 'the timer fired');
    assert.ok(messages > 0 && messages <= BOUND, `the ping-pong ran until the timer (${messages} messages)`);
    assert.deepEqual(ping._waiting, { senders: 0, receivers: 0 });
    assert.deepEqual(pong._waiting, { senders: 0, receivers: 0 });
  });

  test('a ping-pong over select and a buffered receive loop let timers run too', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>(4);
    const { ctx, cancel } = withCancel(background());
    let rounds = 0;
    setTimeout(() => cancel(), 0);
    const g = new Group(ctx);
    g.go(async (c) => {
      for (;;) {
        await select([a.sendCase(1)], { ctx: c });
        if (++rounds > BOUND) throw new Error('starved');
      }
    });
    g.go(async (c) => {
      for (;;) await select([a.recvCase()], { ctx: c });
    });
    g.go(async (c) => {
      for (;;) {
        await b.send(1, c);
        await b.recv(c);
        if (++rounds > BOUND) throw new Error('starved');
      }
    });
    await assert.rejects(g.wait(), CanceledError);
    assert.ok(rounds <= BOUND, `stopped by the timer after ${rounds} rounds`);
  });

  test('a turn yields only once it ran YIELD_BUDGET operations and YIELD_SLICE_MS', async () => {
    let t = 0;
    setClock(() => t);
    try {
      await new Promise((r) => setImmediate(r)); // a fresh turn
      const ch = new Channel<number>(4 * YIELD_BUDGET);
      let immediate = false;
      setImmediate(() => (immediate = true));
      // Many budgets' worth of operations, but the clock stands still: no yield.
      for (let i = 0; i < 3 * YIELD_BUDGET; i++) await ch.send(i);
      for (let i = 0; i < YIELD_BUDGET; i++) await ch.recv();
      assert.equal(immediate, false, 'no yield while the slice lasts, however many operations ran');
      // The slice passes; the clock is looked at again only at the next multiple of the budget.
      t = YIELD_SLICE_MS;
      for (let i = 0; i < YIELD_BUDGET - 1; i++) await ch.recv();
      assert.equal(immediate, false, 'no yield before the next look at the clock');
      await ch.recv(); // the look at the clock: the slice is spent
      assert.equal(immediate, false, 'the operation that spends the slice completes at once');
      await ch.recv();
      assert.equal(immediate, true, 'past the slice, the next operation waited for setImmediate');
    } finally {
      setClock();
    }
  });

  test('operations deferred in one turn resume together, in the order they yielded', async () => {
    let t = 0;
    setClock(() => t);
    try {
      await new Promise((r) => setImmediate(r));
      const ch = new Channel<number>(4 * YIELD_BUDGET);
      for (let i = 0; i < YIELD_BUDGET - 1; i++) await ch.send(i);
      t = YIELD_SLICE_MS;
      await ch.send(-1); // spends the slice
      const order: string[] = [];
      const a = ch.send(1).then(() => order.push('send'));
      setImmediate(() => order.push('an immediate queued between them'));
      const b = ch.recv().then(() => order.push('recv'));
      const c = ch.send(2).then(() => order.push('send 2'));
      assert.equal(ch.length, YIELD_BUDGET, 'all three were deferred');
      await Promise.all([a, b, c]);
      assert.deepEqual(order, ['send', 'recv', 'send 2'], 'in the order they yielded, in one macrotask');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(order.at(-1), 'an immediate queued between them');
    } finally {
      setClock();
    }
  });
});

describe('Channel: classic programs', () => {
  test('a prime sieve of chained unbuffered channels yields the 25 primes below 100', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(ctx);
    const gen = new Channel<number>();
    g.go(async (c) => {
      for (let i = 2; ; i++) await gen.send(i, c);
    });
    let src = gen;
    const primes: number[] = [];
    for (;;) {
      const p = (await src.recv()).value as number;
      if (p >= 100) break;
      primes.push(p);
      const input = src;
      const out = new Channel<number>();
      g.go(async (c) => {
        for (;;) {
          const v = (await input.recv(c)).value as number;
          if (v % p !== 0) await out.send(v, c);
        }
      });
      src = out;
    }
    assert.equal(primes.length, 25);
    assert.deepEqual(primes.slice(0, 5), [2, 3, 5, 7, 11]);
    assert.equal(primes[24], 97);
    cancel();
    await assert.rejects(g.wait(), CanceledError);
    assert.equal(hanging(ctx), 0, 'no task and no waiter left');
  });

  test('four producers each sending 0..999 to four consumers deliver every value exactly four times', async () => {
    const ch = new Channel<number>();
    const counts = new Map<number, number>();
    const producers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 1000; i++) await ch.send(i);
    });
    const consumers = Array.from({ length: 4 }, async () => {
      for await (const v of ch) counts.set(v, (counts.get(v) ?? 0) + 1);
    });
    await Promise.all(producers);
    ch.close();
    await Promise.all(consumers);
    assert.equal(counts.size, 1000);
    for (const [v, n] of counts) assert.equal(n, 4, `value ${v} delivered 4 times`);
  });
});

describe('Channel: pipeline', () => {
  test('a generator → square → sink pipeline stopped by its ctx leaves no task and no waiter', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(ctx, { name: 'pipeline' });
    const nums = new Channel<number>(0, { name: 'nums' });
    const squares = new Channel<number>(0, { name: 'squares' });
    const seen: number[] = [];
    g.go(
      async (c) => {
        for (let i = 0; ; i++) await nums.send(i, c);
      },
      { name: 'generator' },
    );
    g.go(
      async (c) => {
        for await (const n of nums.range(c)) await squares.send(n * n, c);
      },
      { name: 'square' },
    );
    g.go(
      async (c) => {
        for await (const sq of squares.range(c)) seen.push(sq);
      },
      { name: 'sink' },
    );
    while (seen.length < 100) await turn();
    const ids = snapshot().tasks.filter((t) => ['generator', 'square', 'sink'].includes(t.name));
    assert.equal(ids.length, 3, 'the three stages run');
    cancel();
    await assert.rejects(g.wait(), CanceledError);
    assert.deepEqual(
      seen.slice(0, 100),
      Array.from({ length: 100 }, (_, i) => i * i),
      'squares arrive in order, none lost or duplicated',
    );
    const left = snapshot().tasks.filter((t) => ids.some((x) => x.id === t.id));
    assert.deepEqual(left, [], 'no task left in the registry');
    assert.deepEqual(nums._waiting, { senders: 0, receivers: 0 });
    assert.deepEqual(squares._waiting, { senders: 0, receivers: 0 });
    assert.equal(inspectContext(ctx)?.children, 0, 'nothing left on the pipeline context');
    assert.equal(inspectContext(g.ctx)?.children, 0, "nothing left on the group's context");
  });
});

describe('Channel: randomized schedules', () => {
  test('producers and consumers with random capacities, cancellations and a close: exactly once, FIFO per producer', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rand = mulberry32(seed);
      const ch = new Channel<[number, number]>(Math.floor(rand() * 4) * (rand() < 0.5 ? 1 : 3));
      const root = withCancel(background());
      const nP = 1 + Math.floor(rand() * 4);
      const nC = 1 + Math.floor(rand() * 4);
      const accepted: number[][] = Array.from({ length: nP }, () => []);
      const received: Array<Array<[number, number]>> = Array.from({ length: nC }, () => []);
      const cancels: Array<() => void> = [];
      const pause = async (): Promise<void> => {
        const n = Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) await Promise.resolve();
        if (rand() < 0.1) await turn();
      };
      const producers = Array.from({ length: nP }, async (_, p) => {
        for (let i = 0; i < 30; i++) {
          const c = withCancel(root.ctx);
          cancels.push(() => c.cancel());
          try {
            if (rand() < 0.2) {
              if (ch.trySend([p, i])) accepted[p]!.push(i);
            } else {
              await ch.send([p, i], rand() < 0.5 ? c.ctx : undefined);
              accepted[p]!.push(i);
            }
          } catch (e) {
            if (e instanceof ChannelClosedError) return;
            assert.ok(e instanceof CanceledError, `seed ${seed}: a send fails only by close or cancel`);
          } finally {
            c.cancel();
          }
          await pause();
        }
      });
      const consumers = Array.from({ length: nC }, async (_, k) => {
        for (;;) {
          const c = withCancel(root.ctx);
          cancels.push(() => c.cancel());
          try {
            const r = await ch.recv(rand() < 0.5 ? c.ctx : undefined);
            if (!r.ok) return;
            received[k]!.push(r.value);
          } catch (e) {
            assert.ok(e instanceof CanceledError, `seed ${seed}: a recv fails only by cancel`);
          } finally {
            c.cancel();
          }
          await pause();
        }
      });
      const chaos = (async () => {
        const steps = 5 + Math.floor(rand() * 60);
        for (let i = 0; i < steps; i++) {
          await pause();
          if (cancels.length > 0 && rand() < 0.5) cancels[Math.floor(rand() * cancels.length)]!();
        }
        ch.close();
      })();
      await chaos;
      await Promise.all(producers);
      await Promise.all(consumers);
      // Invariants: every accepted value received exactly once, nothing else received, per-producer order kept.
      const all = received.flat();
      const seen = new Set(all.map(([p, i]) => `${p}:${i}`));
      assert.equal(seen.size, all.length, `seed ${seed}: nothing duplicated`);
      const acceptedCount = accepted.reduce((n, a) => n + a.length, 0);
      assert.equal(all.length, acceptedCount, `seed ${seed}: nothing lost, nothing extra`);
      for (let p = 0; p < nP; p++) {
        for (const i of accepted[p]!) assert.ok(seen.has(`${p}:${i}`), `seed ${seed}: ${p}:${i} received`);
      }
      for (const list of received) {
        const last = new Map<number, number>();
        for (const [p, i] of list) {
          assert.ok((last.get(p) ?? -1) < i, `seed ${seed}: producer ${p}'s order kept at one consumer`);
          last.set(p, i);
        }
      }
      assert.deepEqual(ch._waiting, { senders: 0, receivers: 0 }, `seed ${seed}: no waiter left`);
      assert.equal(hanging(root.ctx), 0, `seed ${seed}: nothing left on the root context`);
      root.cancel();
      await ticks(1);
    }
  });
});

describe('Channel: the buffer', () => {
  test('values keep their order while the buffer wraps around and grows', () => {
    const ch = new Channel<number>(100);
    const rand = mulberry32(7);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 2_000; round++) {
      const sends = Math.floor(rand() * 7);
      for (let i = 0; i < sends && ch.length < 100; i++) assert.equal(ch.trySend(next++), true, 'room in the buffer');
      const recvs = Math.floor(rand() * 7);
      for (let i = 0; i < recvs; i++) {
        const r = ch.tryRecv();
        if (!r.ok) break;
        assert.equal(r.value, expected++);
      }
    }
    for (let r = ch.tryRecv(); r.ok; r = ch.tryRecv()) assert.equal(r.value, expected++);
    assert.equal(expected, next, 'every value came out once');
    assert.equal(ch.length, 0);
  });
});
