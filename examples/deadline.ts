// A time budget for a call to a slow dependency, with a cause that says what ran out of time.
import assert from 'node:assert/strict';
import { DeadlineExceededError, background, isTimeout, sleep, withTimeout } from 'corral';

const { ctx, cancel } = withTimeout(background(), 50, new Error('terminology service took longer than 50 ms'));
const keepAlive = setTimeout(() => {}, 1_000); // contexts' timers never keep the process alive
try {
  await sleep(ctx, 5_000); // the slow call
} catch (err) {
  assert.ok(err instanceof DeadlineExceededError && isTimeout(err));
  console.log(`${err.message}: ${(ctx.cause as Error).message}`);
} finally {
  cancel();
  clearTimeout(keepAlive);
}
