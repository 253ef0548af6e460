// The seeds' ePRO incident (seed 001): every questionnaire submission started a background
// validation against an external medical-terminology service and waited for its answer on a
// channel. When the service hung, the call never returned, the channel was never written, and one
// goroutine per submission waited forever until the process was OOM-killed.
//
// Here the terminology service is a loopback server that accepts and never answers. The naive
// handler fails the leak check, which names the validation task and where it was spawned; once the
// hung call is cut, nothing can ever write the channel, and the task is found unreachable: its
// `finally` will never run. The fixed handler gives the validation a deadline: it ends, marks the
// submission for manual review, and leaves nothing behind.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Channel, background, go, isCancellation, withTimeout, type Context, type Task } from '../src/index.js';
import { checkLeaks, collectUnreachable, LeakError } from '../src/testing/index.js';

interface Submission {
  id: string;
  terms: string[];
}

let terminology: http.Server;
let port = 0;

before(async () => {
  terminology = http.createServer(() => {
    // A terminology service under load: it reads the request and never answers.
  });
  await new Promise<void>((r) => terminology.listen(0, '127.0.0.1', r));
  port = (terminology.address() as { port: number }).port;
});

after(async () => {
  terminology.closeAllConnections();
  await new Promise<void>((r) => terminology.close(() => r()));
});

async function validateTerms(s: Submission, signal?: AbortSignal): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/validate`, { method: 'POST', body: JSON.stringify(s.terms), signal });
  await res.body?.cancel();
  return res.ok;
}

const stored: string[] = [];
const forReview: string[] = [];

/** The naive handler: the seed's `go func() { ... <-validationResultChan }` with no way out. */
function handleSubmissionNaive(s: Submission): Task<any> {
  stored.push(s.id);
  return go(async () => {
    const results = new Channel<boolean>(0, { name: 'terminology-results' });
    go(async () => {
      // On an error the caller is never told: the receive below waits forever.
      const ok = await validateTerms(s).catch(() => undefined);
      if (ok !== undefined) await results.send(ok);
    }, { name: 'terminology-call' });
    const { value } = await results.recv();
    if (value !== true) forReview.push(s.id);
  }, { name: 'validate-terms' });
}

/** The fix: the validation has a deadline, and every wait in it answers to that context. */
function handleSubmissionFixed(s: Submission, request: Context): Task<any> {
  stored.push(s.id);
  const { ctx, cancel } = withTimeout(request, 100);
  return go(async () => {
    try {
      const results = new Channel<boolean>(0, { name: 'terminology-results' });
      go(async () => {
        const ok = await validateTerms(s, ctx.signal).catch(() => undefined);
        if (ok !== undefined) await results.send(ok, ctx).catch(() => {});
      }, { name: 'terminology-call' });
      const { value } = await results.recv(ctx);
      if (value !== true) forReview.push(s.id);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      forReview.push(s.id); // the service did not answer in time: a person checks the terms
    } finally {
      cancel();
    }
  }, { name: 'validate-terms' });
}

describe('seed: the ePRO validation whose result channel is never written', () => {
  test('naive: the leak check fails naming the validation task and its spawn site; once the call is cut, the task is certainly stuck', async () => {
    let task: Task<any> | undefined;
    let err: unknown;
    try {
      await checkLeaks(() => {
        task = handleSubmissionNaive({ id: 'Q-001', terms: ['LOINC 44249-1'] });
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LeakError, `the leak check failed: ${String(err)}`);
    assert.deepEqual(stored, ['Q-001'], 'the submission itself was stored');
    const validate = err.leaks.tasks.find((t) => t.name === 'validate-terms');
    assert.ok(validate !== undefined, 'the validation task is reported');
    assert.equal(validate.state, 'waiting: chan receive');
    assert.equal(validate.waitingOn, 'terminology-results');
    assert.match(validate.spawnSite ?? '', /at handleSubmissionNaive \(.*seeds-epro\.test\.ts:\d+:\d+\)/);
    assert.match(err.message, /1 task "validate-terms" \[waiting: chan receive on "terminology-results", oldest \d+ms\]\n {4}at handleSubmissionNaive/);
    assert.ok(err.leaks.tasks.some((t) => t.name === 'terminology-call'), 'and the hung call');

    // The hung connection is cut: the call gives up without telling the receiver, and nothing
    // anywhere can write the channel now. V8 collects the waiting task's promise.
    terminology.closeAllConnections();
    await collectUnreachable();
    for (let i = 0; i < 50 && task?.state !== 'leaked (unreachable)'; i++) await collectUnreachable();
    assert.equal(task?.state, 'leaked (unreachable)');
    assert.deepEqual(forReview, [], 'its last line never ran');
  });

  test('fixed: with a deadline the validation ends, the submission goes to review, and the leak check passes', async () => {
    let task: Task<any> | undefined;
    await checkLeaks(() => {
      task = handleSubmissionFixed({ id: 'Q-002', terms: ['LOINC 44249-1'] }, background());
    });
    assert.equal(task?.state, 'succeeded');
    assert.ok(stored.includes('Q-002'), 'stored');
    assert.deepEqual(forReview, ['Q-002']);
  });
});
