// Leak checks from corral/testing, on the seeds' ePRO incident: a submission handler starts a
// validation against a terminology service and waits for the answer on a channel. The service
// hangs; the naive handler leaves a task that can never finish, and checkLeaks says so, naming
// where it was spawned and marking it certain. The fixed handler gives the validation a deadline.
import assert from 'node:assert/strict';
import { Channel, Group, background, isCancellation, withTimeout, type Context } from 'corral';
import { checkLeaks, LeakError } from 'corral/testing';

/** A terminology service that never answers (it gives up when its signal aborts, if it gets one). */
function lookupTerms(signal?: AbortSignal): Promise<boolean> {
  return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

const intake = new Group(background(), { name: 'epro-intake' });
// A service's server keeps its process alive (corral's deadline timers never do); this stands in for it.
const server = setInterval(() => {}, 1_000);

function submitNaive(): void {
  const results = new Channel<boolean>(0, { name: 'terminology-results' });
  intake.go(async () => results.send(await lookupTerms()), { name: 'terminology-lookup' });
  intake.go(async () => {
    await results.recv(); // nobody will ever send: the lookup hangs, and nothing else holds the channel
  }, { name: 'validate-submission' });
}

async function submitFixed(request: Context): Promise<'valid' | 'review'> {
  const { ctx, cancel } = withTimeout(request, 50);
  const results = new Channel<boolean>(0, { name: 'terminology-results' });
  intake.go(async () => results.send(await lookupTerms(ctx.signal), ctx), { name: 'terminology-lookup' }).catch(() => {});
  try {
    const { value } = await results.recv(ctx);
    return value === true ? 'valid' : 'review';
  } catch (err) {
    if (isCancellation(err)) return 'review'; // no answer in time: a person checks the terms
    throw err;
  } finally {
    cancel();
  }
}

try {
  await checkLeaks(submitNaive);
  assert.fail('the naive handler should leak');
} catch (err) {
  assert.ok(err instanceof LeakError);
  console.log('naive handler:\n' + err.message);
  assert.ok(err.leaks.tasks.every((t) => t.certain), 'both tasks can never finish');
}

const outcome = await checkLeaks(() => submitFixed(background()));
console.log(`fixed handler: the submission went to "${outcome}", and nothing was left behind`);
clearInterval(server);
