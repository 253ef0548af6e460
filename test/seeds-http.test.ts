// The seeds' fire-and-forget per request (seeds 000 and 001): an HTTP handler answers at once and
// starts a background task per request to notify a downstream system. When the downstream hangs,
// every request leaves one task behind: under a steady load the live task count grows without
// bound. The fix gives the notification a deadline: the count stays flat. The CI gate (a guard
// with scope 'all' around the whole load) catches the naive version.
//
// The load is bounded and on loopback: three batches of 60 requests, 8 at a time.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Group, background, isTimeout, liveCounts, sleep, timeout, type Context } from '../src/index.js';
import { leakGuard, LeakError } from '../src/testing/index.js';

const BATCH = 60;
const BATCHES = 3;
/** The fixed notification's deadline, in ms. */
const DEADLINE = 5;
const CONCURRENCY = 8;

/** A downstream that hangs: a call returns when the test lets it, or when its context ends. */
function hanging(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
let hang = hanging();
const notifyDownstream = (ctx: Context): Promise<void> => Promise.race([hang.promise, ctx.done]);

type Handler = (notifications: Group) => http.RequestListener;

// Naive: the seed's `go notify(body)`: nothing bounds it and nobody waits for it.
const naive: Handler = (notifications) => (_req, res) => {
  notifications.go(() => notifyDownstream(background()), { name: 'notify-downstream' });
  res.end('accepted');
};

// Fixed: the same fire-and-forget, but the notification has a deadline and gives up quietly.
const fixed: Handler = (notifications) => (_req, res) => {
  notifications.go(async (ctx) => {
    try {
      await timeout(ctx, DEADLINE, notifyDownstream);
    } catch (err) {
      if (!isTimeout(err)) throw err;
    }
  }, { name: 'notify-downstream' });
  res.end('accepted');
};

async function startServer(handler: Handler): Promise<{ notifications: Group; port: number; close: () => Promise<void> }> {
  const notifications = new Group(background(), { name: 'notifications', failFast: false });
  const server = http.createServer(handler(notifications));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { notifications, port, close };
}

/** `n` POSTs, `CONCURRENCY` at a time, on keep-alive connections that are closed afterwards. */
async function load(port: number, n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/submissions', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end('{"questionnaire":"PHQ-9"}');
    });
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
}

/** Runs `work` while sampling the live task count (above `base`) every millisecond; resolves with the peak. */
async function peakDuring(base: number, work: () => Promise<void>): Promise<number> {
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, liveCounts().tasks - base);
  };
  const sampler = setInterval(sample, 1);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  sample();
  return peak;
}

/** Waits until the group has no task left, for at most 2 s. */
async function drained(g: Group): Promise<void> {
  for (let waited = 0; g.running > 0; waited += 5) {
    assert.ok(waited < 2_000, `${g.running} notifications still running`);
    await sleep(background(), 5);
  }
}

describe('seed: an HTTP handler that starts a fire-and-forget task per request', () => {
  test('naive: the live task count grows with every request, and the CI gate fails naming the notification', async (t) => {
    const gate = leakGuard({ scope: 'all', settle: 50 });
    gate.before();
    const base = liveCounts().tasks;
    const { notifications, port, close } = await startServer(naive);
    const counts: number[] = [];
    for (let i = 0; i < BATCHES; i++) {
      await load(port, BATCH);
      counts.push(liveCounts().tasks - base);
    }
    await close();
    t.diagnostic(`naive: live tasks after each batch ${counts.join(', ')}`);
    assert.deepEqual(counts, Array.from({ length: BATCHES }, (_, i) => (i + 1) * BATCH), 'one task left per request: the count grows with every batch');
    const total = BATCHES * BATCH;

    let err: unknown;
    try {
      await gate.after();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LeakError, `the gate failed: ${String(err)}`);
    assert.match(err.message, new RegExp(`^leakGuard: ${total} tasks left behind\\n`));
    assert.match(err.message, new RegExp(`\\n${total} tasks "notify-downstream" \\[running, oldest \\d+ms\\]\\n {4}at .*seeds-http\\.test\\.ts`));
    // Cancelling does not reach them (they passed background() down); only the downstream can.
    notifications.cancel();
    hang.resolve();
    hang = hanging();
    await drained(notifications);
  });

  test('fixed: with a deadline on the notification the count stays flat, and the CI gate passes', async (t) => {
    const gate = leakGuard({ scope: 'all' });
    gate.before();
    const base = liveCounts().tasks;
    const { notifications, port, close } = await startServer(fixed);
    // Back to back, no pause between batches: a leak would add up across them.
    const peaks: number[] = [];
    for (let i = 0; i < BATCHES; i++) peaks.push(await peakDuring(base, () => load(port, BATCH)));
    const atEnd = liveCounts().tasks - base;
    await drained(notifications);
    assert.equal(liveCounts().tasks - base, 0, 'back to where it started once the last deadlines passed');
    await close();
    t.diagnostic(`fixed: peak live tasks per batch ${peaks.join(', ')}; ${atEnd} at the end of the load`);
    // Flat: what is in flight is bounded by the deadline times the request rate, not by the number
    // of requests served so far. The naive version holds BATCH more after every batch.
    const bound = BATCH / 2;
    for (const p of peaks) assert.ok(p < bound, `peak ${p} stays under ${bound} (peaks ${peaks.join(', ')})`);
    assert.ok(atEnd < bound, `${atEnd} left in flight at the end of ${BATCHES * BATCH} requests`);
    await gate.after();
  });
});
