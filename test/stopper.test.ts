import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { inspectContext } from '../src/context.js';
import { CanceledError } from '../src/errors.js';
import { Semaphore } from '../src/semaphore.js';
import { Stopper } from '../src/stopper.js';
import { mulberry32 } from './helpers/random.js';

/** Lets every queued microtask and promise callback run. */
const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

function track(p: Promise<unknown>): { state: 'pending' | 'resolved' | 'rejected' } {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected' };
  p.then(
    () => (t.state = 'resolved'),
    () => (t.state = 'rejected'),
  );
  return t;
}

describe('Stopper', () => {
  test('isStopped is false until stop() and true from then on', () => {
    const s = new Stopper();
    assert.equal(s.isStopped, false);
    s.stop();
    assert.equal(s.isStopped, true);
  });

  test('stop is idempotent: only the first call reports true and its cause is kept', () => {
    const s = new Stopper();
    const first = new Error('SIGTERM');
    assert.equal(s.stop(first), true);
    assert.equal(s.stop(new Error('again')), false);
    assert.equal(s.stop(), false);
    assert.equal(s.isStopped, true);
    assert.equal(s.ctx.cause, first);
  });

  test('stopped stays pending until stop(), then resolves, and is the same promise on every read', async () => {
    const s = new Stopper();
    const p = s.stopped;
    assert.equal(s.stopped, p);
    const t = track(p);
    await turn();
    assert.equal(t.state, 'pending');
    s.stop();
    await turn();
    assert.equal(t.state, 'resolved');
    assert.equal(s.stopped, p);
  });

  test('stopped read after stop() is already resolved, and never rejects', async () => {
    const s = new Stopper();
    s.stop(new Error('cause'));
    const t = track(s.stopped);
    await turn();
    assert.equal(t.state, 'resolved');
  });

  test('ctx is live until stop(), then done with a CanceledError carrying the cause, synchronously', () => {
    const s = new Stopper();
    const ctx = s.ctx;
    assert.equal(s.ctx, ctx, 'the same context on every read');
    // Read through s.ctx: asserting on ctx.err itself would narrow its type to undefined below.
    assert.equal(s.ctx.err, undefined);
    assert.equal(s.ctx.signal.aborted, false);
    const cause = new Error('maintenance window');
    s.stop(cause);
    assert.ok(ctx.err instanceof CanceledError, "ctx.err instanceof CanceledError");
    assert.equal(ctx.cause, cause);
    assert.equal(ctx.signal.aborted, true);
  });

  test('ctx first read after stop() is already done, with the same cause', () => {
    const s = new Stopper();
    const cause = new Error('late reader');
    s.stop(cause);
    assert.ok(s.ctx.err instanceof CanceledError, "s.ctx.err instanceof CanceledError");
    assert.equal(s.ctx.cause, cause);
  });

  test('stop() without a cause gives ctx the CanceledError itself as its cause', () => {
    const s = new Stopper();
    s.stop();
    assert.equal(s.ctx.cause, s.ctx.err);
  });

  test('ctx ends the waits bounded by it and keeps nothing registered afterwards', async () => {
    const s = new Stopper();
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const ws = [track(sem.acquire(s.ctx)), track(sem.acquire(s.ctx))];
    assert.equal(inspectContext(s.ctx)?.children, 2);
    s.stop();
    await turn();
    assert.deepEqual(
      ws.map((w) => w.state),
      ['rejected', 'rejected'],
    );
    assert.equal(sem.waiting, 0);
    assert.equal(inspectContext(s.ctx)?.children, 0);
  });

  test('randomized interleavings of stop and reads agree: stopped resolves and ctx ends exactly once stop() ran', async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = mulberry32(seed);
      const s = new Stopper();
      let stoppedAt = -1;
      let firstCause: unknown;
      const reads: { step: number; p: { state: string } }[] = [];
      for (let step = 0; step < 20; step++) {
        const r = rand();
        if (r < 0.2) {
          const cause = new Error(`stop ${step}`);
          const first = s.stop(cause);
          assert.equal(first, stoppedAt < 0, `seed ${seed}: stop reports whether it was the first`);
          if (first) {
            stoppedAt = step;
            firstCause = cause;
          }
        } else if (r < 0.5) {
          reads.push({ step, p: track(s.stopped) });
        } else if (r < 0.7) {
          assert.equal(s.ctx.err !== undefined, stoppedAt >= 0, `seed ${seed}: ctx done iff stopped`);
        } else {
          await turn();
          for (const read of reads) assert.equal(read.p.state, stoppedAt >= 0 ? 'resolved' : 'pending', `seed ${seed}`);
        }
        assert.equal(s.isStopped, stoppedAt >= 0, `seed ${seed}`);
      }
      s.stop();
      await turn();
      assert.ok(reads.every((read) => read.p.state === 'resolved'), `seed ${seed}`);
      if (firstCause !== undefined) assert.equal(s.ctx.cause, firstCause, `seed ${seed}: the first cause wins`);
    }
  });
});
