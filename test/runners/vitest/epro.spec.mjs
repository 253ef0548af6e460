// The seeds' ePRO validation, twice: the naive version leaves a task waiting forever on a result
// channel nobody writes once the terminology service hangs; the fixed one gives up with its context.
import { expect, test } from 'vitest';
import { Channel, Group, background, withTimeout } from 'corral';
import { checkLeaks } from 'corral/testing';

/** A terminology service that never answers (it honours an abort signal when given one). */
function lookupTerms(signal) {
  return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

const intake = new Group(background(), { name: 'epro-intake' });

function submitNaive() {
  const results = new Channel(0, { name: 'terminology-results' });
  intake.go(async () => {
    const ok = await lookupTerms();
    await results.send(ok);
  }, { name: 'terminology-lookup' });
  intake.go(async () => {
    await results.recv();
  }, { name: 'validate-submission' });
}

async function submitFixed() {
  const { ctx, cancel } = withTimeout(background(), 20);
  const results = new Channel(0, { name: 'terminology-results' });
  const lookup = intake.go(async (ctx) => {
    const ok = await lookupTerms(ctx.signal);
    await results.send(ok, ctx);
  }, { name: 'terminology-lookup' });
  const validate = intake.go(async () => {
    await results.recv(ctx);
  }, { name: 'validate-submission' });
  await Promise.allSettled([lookup, validate]);
  cancel();
}

test('the fixed submission handler leaves nothing behind', async () => {
  await checkLeaks(submitFixed);
  expect(intake.running).toBe(0);
});

test('the naive submission handler leaks its validation task', () => {
  submitNaive();
});
