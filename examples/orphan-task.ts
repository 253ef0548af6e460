// The seeds' "nested goroutine without a context": a helper deep in a call chain starts background
// work and passes nothing down. With go(), the work still has an owner: the task that was running,
// so cancelling the request stops the orphan too.
import assert from 'node:assert/strict';
import { Group, background, enableAmbientTracking, go, sleep, isCancellation } from 'corral';

enableAmbientTracking(); // before the first task, so every task is tracked

function recordAudit(patientId: string): void {
  // No ctx parameter: the kind of helper that leaks goroutines in Go.
  go(async (ctx) => {
    await sleep(ctx, 60_000); // a slow audit sink
    console.log(`audit written for ${patientId}`);
  }, { name: 'audit-write' });
}

const request = new Group(background(), { name: 'request' });
request.go(async (ctx) => {
  recordAudit('P-0042');
  await sleep(ctx, 10);
}, { name: 'handle-submission' });

setTimeout(() => request.cancel(new Error('client disconnected')), 30);
try {
  await request.wait();
} catch (err) {
  assert.ok(isCancellation(err));
}
assert.equal(request.running, 0, 'the orphan was owned by the request and stopped with it');
console.log('request cancelled: the nested audit task stopped with it');
