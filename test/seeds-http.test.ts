// The seeds' fire-and-forget per request (seeds 000 and 001): an HTTP handler answers at once and
// starts a background task per request to notify a downstream system. When the downstream hangs,
// every request leaves one task behind: under a steady load the live task count grows without
// bound. The fix gives the notification a deadline: the count stays flat. The CI gate (a guard
// with scope 'all' around the whole load) catches the naive version.
//
// The load is bounded and on loopback: two batches of requests, 8 at a time.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Group, background, isTimeout, liveCounts, sleep, timeout, type Context } from '../src/index.js';
import { leakGuard, LeakError } from '../src/testing/index.js';

const BATCH = 60;
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
      await timeout(ctx, 20, notifyDownstream);
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

/** Waits until the group has no task left, for at most 2 s. */
async function drained(g: Group): Promise<void> {
  for (let waited = 0; g.running > 0; waited += 5) {
    assert.ok(waited < 2_000, `${g.running} notifications still running`);
    await sleep(background(), 5);
  }
}

describe('seed: an HTTP handler that starts a fire-and-forget task per request', () => {
  test('naive: the live task count grows with every request, and the CI gate fails naming the notification', async () => {
    const gate = leakGuard({ scope: 'all', settle: 50 });
    gate.before();
    const base = liveCounts().tasks;
    const { notifications, port, close } = await startServer(naive);
    await load(port, BATCH);
    const afterOne = liveCounts().tasks - base;
    await load(port, BATCH);
    const afterTwo = liveCounts().tasks - base;
    await close();
    assert.equal(afterOne, BATCH, 'one task left per request');
    assert.equal(afterTwo, 2 * BATCH, 'and the count keeps growing');

    let err: unknown;
    try {
      await gate.after();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LeakError, `the gate failed: ${String(err)}`);
    assert.match(err.message, new RegExp(`^leakGuard: ${2 * BATCH} tasks left behind\\n`));
    assert.match(err.message, new RegExp(`\\n${2 * BATCH} tasks "notify-downstream" \\[running, oldest \\d+ms\\]\\n {4}at .*seeds-http\\.test\\.ts`));
    // Cancelling does not reach them (they passed background() down); only the downstream can.
    notifications.cancel();
    hang.resolve();
    hang = hanging();
    await drained(notifications);
  });

  test('fixed: with a deadline on the notification the count stays flat, and the CI gate passes', async () => {
    const gate = leakGuard({ scope: 'all' });
    gate.before();
    const base = liveCounts().tasks;
    const { notifications, port, close } = await startServer(fixed);
    await load(port, BATCH);
    await drained(notifications);
    assert.equal(liveCounts().tasks - base, 0, 'back to where it started after the first batch');
    await load(port, BATCH);
    await drained(notifications);
    assert.equal(liveCounts().tasks - base, 0, 'and after the second');
    await close();
    await gate.after();
  });
});
