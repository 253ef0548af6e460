// The seeds' nested task started without the caller's context, twice: a helper that starts its
// audit write in a group of its own outlives the cancelled request; with go() it is cancelled
// with it. Plus a test that leaves a listening server and an abort listener behind. What the
// leaking tests leave keeps the process alive: it is run with --test-force-exit.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Group, background, enableAmbientTracking, go, sleep } from 'corral';

enableAmbientTracking();

const shutdown = new AbortController(); // lives as long as the process

function recordAuditNaive() {
  new Group(background(), { name: 'audit' }).go((ctx) => sleep(ctx, 60_000), { name: 'audit-write' });
}

function recordAuditFixed() {
  go((ctx) => sleep(ctx, 60_000), { name: 'audit-write' });
}

async function cancelledRequest(recordAudit) {
  const request = new Group(background(), { name: 'request' });
  request.go(async (ctx) => {
    recordAudit();
    await sleep(ctx, 60_000);
  }, { name: 'handle-submission' });
  await sleep(background(), 5);
  request.cancel();
  await request.wait().catch(() => {});
}

test('fixed: the audit task is cancelled with its request', async () => {
  await cancelledRequest(recordAuditFixed);
});

test('naive: the audit task outlives its request', async () => {
  await cancelledRequest(recordAuditNaive);
});

test('a server and an abort listener left behind', async () => {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  shutdown.signal.addEventListener('abort', () => server.close());
  assert.ok(server.listening);
});

test('a cleared interval is fine', () => {
  clearInterval(setInterval(() => {}, 1_000));
});

describe('tests that overlap', { concurrency: 2 }, () => {
  // Each holds a timer while the other ends: checked together when the last ends, neither is blamed.
  test('a clean test that holds a timer for a while', async () => {
    const t = setTimeout(() => {}, 60_000);
    await sleep(background(), 30);
    clearTimeout(t);
  });
  test('another clean test that ends first', async () => {
    const t = setTimeout(() => {}, 60_000);
    await sleep(background(), 5);
    clearTimeout(t);
  });
});
