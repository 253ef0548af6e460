import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { background, withCancel } from '../src/context.js';
import { CanceledError, ChannelClosedError } from '../src/errors.js';
import { Group } from '../src/group.js';
import { Channel } from '../src/channel.js';
import { select } from '../src/select.js';
import { mulberry32 } from './helpers/random.js';
import { hanging, track, turn } from './helpers/schedule.js';

const idle = { senders: 0, receivers: 0 };

describe('select: ready cases', () => {
  test('a ready receive case completes at once with its value; default is not taken', async () => {
    const a = new Channel<number>(1);
    const b = new Channel<number>();
    a.trySend(7);
    assert.deepEqual(await select([b.recvCase(), a.recvCase()], { default: true }), { index: 1, value: 7, ok: true });
    assert.equal(a.length, 0);
  });

  test('a ready send case completes at once: value undefined, ok true', async () => {
    const a = new Channel<number>(1);
    assert.deepEqual(await select([a.sendCase(3)]), { index: 0, value: undefined, ok: true });
    assert.deepEqual(a.tryRecv(), { value: 3, ok: true });
  });

  test('with several ready cases exactly one completes; the others neither take nor send', async () => {
    const r = new Channel<number>(1);
    const s = new Channel<number>(1);
    r.trySend(1);
    for (let round = 0; round < 50; round++) {
      const res = await select([r.recvCase(), s.sendCase(2)]);
      if (res.index === 0) {
        assert.equal(s.length, 0, 'the send case did not send');
        r.trySend(1);
      } else {
        assert.equal(r.length, 1, 'the receive case did not take');
        s.tryRecv();
      }
    }
  });

  test('among ready cases the choice is uniformly random (±3% over 40,000 rounds)', async (t) => {
    // select draws from Math.random; a seeded stand-in makes the outcome replayable, so the
    // statistical bound cannot fail by bad luck in CI (with the real generator it would, ~0.2%).
    t.mock.method(Math, 'random', mulberry32(2026));
    const chans = [0, 1, 2, 3].map(() => new Channel<number>(1));
    for (const c of chans) c.trySend(0);
    const counts = [0, 0, 0, 0];
    const cases = chans.map((c) => c.recvCase());
    for (let i = 0; i < 40_000; i++) {
      const { index } = await select(cases);
      counts[index]!++;
      chans[index]!.trySend(0);
    }
    for (const n of counts) assert.ok(Math.abs(n - 10_000) <= 300, `each case chosen 10,000 ±3% times (got ${counts.join(', ')})`);
  });

  test('default with nothing ready resolves at once to index -1 and leaves nothing queued', async () => {
    const a = new Channel<number>();
    assert.deepEqual(await select([a.recvCase(), a.sendCase(1)], { default: true }), { index: -1, value: undefined, ok: false });
    assert.deepEqual(a._waiting, idle);
  });

  test('a receive case on a closed channel is ready with ok=false', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    a.close();
    assert.deepEqual(await select([b.recvCase(), a.recvCase()]), { index: 1, value: undefined, ok: false });
  });

  test('a send case on a closed channel throws ChannelClosedError', async () => {
    const a = new Channel<number>();
    a.close();
    await assert.rejects(select([a.sendCase(1)]), ChannelClosedError);
  });

  test('undefined cases are disabled and never fire', async () => {
    const a = new Channel<number>(1);
    a.trySend(1);
    assert.deepEqual(await select([undefined, a.recvCase(), undefined]), { index: 1, value: 1, ok: true });
    assert.deepEqual(await select([undefined], { default: true }), { index: -1, value: undefined, ok: false });
  });

  test('no enabled case and neither default nor ctx throws instead of hanging', async () => {
    await assert.rejects(select([]), TypeError);
    await assert.rejects(select([undefined, undefined]), TypeError);
    await assert.rejects(select([{} as never]), TypeError);
  });
});

describe('select: blocking', () => {
  test('a blocked select completes with the first case to become ready and unregisters the others', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const p = select([a.recvCase(), b.recvCase(), b.sendCase(9)]);
    assert.deepEqual(a._waiting, { senders: 0, receivers: 1 });
    assert.equal(b.trySend(5), true, 'the select takes it');
    assert.deepEqual(await p, { index: 1, value: 5, ok: true });
    assert.deepEqual(a._waiting, idle);
    assert.deepEqual(b._waiting, idle, 'the losing send case is gone, its value not sent');
    assert.deepEqual(b.tryRecv(), { value: undefined, ok: false, closed: false });
  });

  test('a blocked send case completes when a receiver comes', async () => {
    const a = new Channel<string>();
    const p = select([a.sendCase('x')]);
    assert.deepEqual(await a.recv(), { value: 'x', ok: true });
    assert.deepEqual(await p, { index: 0, value: undefined, ok: true });
  });

  test('a select never pairs with itself (send and receive on one unbuffered channel)', async () => {
    const a = new Channel<number>();
    const p = track(select([a.sendCase(1), a.recvCase()]));
    await turn();
    assert.equal(p.state, 'pending', 'it waits for someone else');
    assert.equal(a.trySend(2), true);
    await turn();
    assert.equal(p.state, 'resolved');
    assert.deepEqual(a._waiting, idle);
  });

  test('two selects pair with each other', async () => {
    const a = new Channel<number>();
    const p1 = select([a.sendCase(1)]);
    const p2 = select([a.recvCase()]);
    assert.deepEqual(await p2, { index: 0, value: 1, ok: true });
    assert.deepEqual(await p1, { index: 0, value: undefined, ok: true });
  });

  test('closing a channel wakes a blocked receive case with ok=false and rejects a blocked send case', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const p = select([a.recvCase(), b.recvCase()]);
    b.close();
    assert.deepEqual(await p, { index: 1, value: undefined, ok: false });
    assert.deepEqual(a._waiting, idle);
    const c = new Channel<number>();
    const q = select([a.recvCase(), c.sendCase(1)]);
    c.close();
    await assert.rejects(q, ChannelClosedError);
    assert.deepEqual(a._waiting, idle);
  });

  test('one select with two receive cases on a channel that closes completes once', async () => {
    const a = new Channel<number>();
    const other = a.recv();
    const p = select([a.recvCase(), a.recvCase()]);
    a.close();
    const r = await p;
    assert.equal(r.ok, false);
    assert.deepEqual(await other, { value: undefined, ok: false }, 'the receiver behind it woke too');
    assert.deepEqual(a._waiting, idle);
  });

  test('a ctx that ends rejects the select with ctx.err and leaves nothing queued', async () => {
    const a = new Channel<number>();
    const { ctx, cancel } = withCancel(background());
    const p = track(select([a.recvCase(), a.sendCase(1)], { ctx }));
    assert.equal(hanging(ctx), 1, 'one node on the context for the whole select');
    cancel();
    await turn();
    assert.equal(p.state, 'rejected');
    assert.equal(p.err, ctx.err);
    assert.equal(hanging(ctx), 0);
    assert.deepEqual(a._waiting, idle);
    const later = a.recv();
    assert.equal(a.trySend(4), true, 'a value sent later goes to another receiver');
    assert.deepEqual(await later, { value: 4, ok: true });
  });

  test('a ctx already done rejects at once; a select with only a ctx waits for it', async () => {
    const { ctx, cancel } = withCancel(background());
    const p = track(select([], { ctx }));
    await turn();
    assert.equal(p.state, 'pending');
    cancel();
    await turn();
    assert.ok(p.err instanceof CanceledError, 'rejects with ctx.err');
    const a = new Channel<number>(1);
    a.trySend(1);
    await assert.rejects(select([a.recvCase()], { ctx }), CanceledError);
    assert.equal(a.length, 1, 'nothing taken');
  });

  test('a completed select leaves nothing on its context', async () => {
    const a = new Channel<number>();
    const { ctx } = withCancel(background());
    const p = select([a.recvCase()], { ctx });
    await a.send(1);
    await p;
    assert.equal(hanging(ctx), 0);
  });

  test('a task blocked in select shows "waiting: select", then "running"', async () => {
    const a = new Channel<number>();
    const g = new Group(background());
    const seen: string[] = [];
    const task = g.go(async (ctx) => {
      await select([a.recvCase()], { ctx });
      seen.push(task.state);
    });
    assert.equal(task.state, 'waiting: select');
    await a.send(1);
    await task;
    assert.deepEqual(seen, ['running']);
    await g.wait();
  });
});

describe('select: randomized schedules', () => {
  test('selects sending to and receiving from shared channels: every value received exactly once', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rand = mulberry32(seed);
      const chans = [0, 1, 2].map(() => new Channel<[number, number]>(Math.floor(rand() * 3)));
      const root = withCancel(background());
      const got: Array<[number, number]> = [];
      const sent: number[][] = [[], [], []];
      const producers = [0, 1, 2].map(async (p) => {
        for (let i = 0; i < 40; i++) {
          const c = withCancel(root.ctx);
          const k = Math.floor(rand() * 3);
          try {
            const r = await select([chans[k]!.sendCase([p, i]), rand() < 0.5 ? chans[(k + 1) % 3]!.sendCase([p, i]) : undefined], {
              ctx: c.ctx,
            });
            assert.equal(r.ok, true, `seed ${seed}: a send case completes with ok`);
            sent[p]!.push(i);
          } finally {
            c.cancel();
          }
          if (rand() < 0.3) await turn();
        }
      });
      const stop = withCancel(root.ctx);
      const consumers = [0, 1].map(async () => {
        for (;;) {
          try {
            const r = await select(
              chans.map((ch) => ch.recvCase()),
              { ctx: stop.ctx },
            );
            got.push(r.value as [number, number]);
          } catch (e) {
            assert.ok(e instanceof CanceledError, `seed ${seed}: only cancelled`);
            return;
          }
          if (rand() < 0.3) await turn();
        }
      });
      await Promise.all(producers);
      // Drain: wait until every sent value has been received, then stop the consumers.
      for (let t = 0; got.length < 120 && t < 1000; t++) await turn();
      stop.cancel();
      await Promise.all(consumers);
      assert.equal(got.length, 120, `seed ${seed}: every value received`);
      assert.equal(new Set(got.map(([p, i]) => `${p}:${i}`)).size, 120, `seed ${seed}: none duplicated`);
      for (const ch of chans) assert.deepEqual(ch._waiting, idle, `seed ${seed}: no waiter left`);
      assert.equal(hanging(root.ctx), 0, `seed ${seed}: nothing left on the root context`);
      root.cancel();
    }
  });
});

// Compile-time checks: `npm test` typechecks this file, so a wrong type here fails the run.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok: T): void {}

describe('select: result types', () => {
  test("checking index narrows value to that case's element type; send cases give undefined", async () => {
    const names = new Channel<string>(1);
    const counts = new Channel<number>(1);
    const out = new Channel<Date>(1);
    names.trySend('ada');
    const r = await select([names.recvCase(), counts.recvCase(), out.sendCase(new Date(0))]);
    expectType<Equal<typeof r.index, 0 | 1 | 2>>(true);
    if (r.index === 0) {
      expectType<Equal<typeof r.value, string | undefined>>(true);
      if (r.ok) expectType<Equal<typeof r.value, string>>(true);
    } else if (r.index === 1) {
      expectType<Equal<typeof r.value, number | undefined>>(true);
    } else {
      expectType<Equal<typeof r.value, undefined>>(true);
      expectType<Equal<typeof r.ok, true>>(true);
    }
    assert.ok(r.index === 0 || r.index === 2, `a ready case completed (index ${r.index})`);
  });

  test('with default: true the result may be index -1; a disabled case adds nothing', async () => {
    const a = new Channel<number>();
    const maybe: Channel<string> | undefined = undefined as Channel<string> | undefined;
    const r = await select([a.recvCase(), maybe?.recvCase()], { default: true });
    expectType<Equal<typeof r.index, 0 | 1 | -1>>(true);
    assert.deepEqual(r, { index: -1, value: undefined, ok: false });
    const dyn: boolean = r.index === -1;
    const r2 = await select([a.recvCase()], { default: dyn });
    expectType<Equal<typeof r2.index, 0 | -1>>(true);
    assert.equal(r2.index, -1, 'nothing was ready');
  });

  test('cases built at runtime (an array of unknown length) give a numeric index', async () => {
    const chans = [new Channel<number>(1), new Channel<number>(1)];
    (chans[1] as Channel<number>).trySend(5);
    const r = await select(chans.map((c) => c.recvCase()));
    expectType<Equal<typeof r.index, number>>(true);
    if (r.ok) expectType<Equal<typeof r.value, number>>(true);
    assert.deepEqual(r, { index: 1, value: 5, ok: true });
  });
});
