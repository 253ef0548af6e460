// The seeds' nested goroutine started without the caller's context (seeds 000 and 004): a helper
// deep in a request's call chain starts background work and passes nothing down. When the request
// is cancelled (the client left, the service is shutting down), that work runs on, owned by nobody.
//
// Naive, the helper starts its work in a group of its own under background(): an orphan. Fixed, it
// calls go(): the ambient owner is the task that was running (the request), so the work is
// cancelled with it, though the helper still takes no context.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Group, background, enableAmbientTracking, go, isCancellation, sleep, type Context, type Task } from '../src/index.js';
import { checkLeaks, LeakError } from '../src/testing/index.js';

enableAmbientTracking(); // before the first task, so every task knows its owner

let auditTask: Task<any> | undefined;
const auditSink = async (ctx: Context): Promise<void> => sleep(ctx, 60_000); // a slow audit store

/** Naive: no ctx parameter, and a group of its own: nothing above can reach this work. */
function recordAuditNaive(): void {
  auditTask = new Group(background(), { name: 'audit' }).go(auditSink, { name: 'audit-write' });
}

/** Fixed: still no ctx parameter, but go() hands the work to the task that is running. */
function recordAuditFixed(): void {
  auditTask = go(auditSink, { name: 'audit-write' });
}

/** A request whose handler records an audit entry, then is cancelled (the client disconnected). */
async function cancelledRequest(recordAudit: () => void): Promise<void> {
  const request = new Group(background(), { name: 'request' });
  request.go(async (ctx) => {
    recordAudit();
    await sleep(ctx, 60_000);
  }, { name: 'handle-submission' });
  await sleep(background(), 5);
  request.cancel(new Error('client disconnected'));
  await request.wait().catch((err: unknown) => assert.ok(isCancellation(err), `the request was cancelled: ${String(err)}`));
}

describe('seed: the nested task started without the caller\'s context', () => {
  test('naive: the audit task outlives the cancelled request, owned by nobody, and the leak check says so', async () => {
    let err: unknown;
    try {
      await checkLeaks(() => cancelledRequest(recordAuditNaive), { settle: 20 });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LeakError, `the leak check failed: ${String(err)}`);
    assert.equal(auditTask?.state, 'waiting: sleep', 'still running after the request ended');
    const leak = err.leaks.tasks.find((t) => t.name === 'audit-write');
    assert.ok(leak !== undefined, 'the orphan is reported');
    assert.deepEqual(leak.owners.map((o) => `${o.kind} ${o.name}`), ['group audit'], 'no request above it');
    assert.match(leak.spawnSite ?? '', /at recordAuditNaive \(.*seeds-orphan\.test\.ts:\d+:\d+\)/);
    auditTask?.cancel();
  });

  test('fixed: go() gives the audit task the request as its owner, so it is cancelled with it; the leak check passes', async () => {
    await checkLeaks(() => cancelledRequest(recordAuditFixed));
    assert.equal(auditTask?.state, 'canceled');
    assert.equal(auditTask?.parent.name, 'request', 'owned by the request\'s group');
  });
});
