// The seeds' leak, and its fix: a handler starts validation in the background and waits for the
// result on a channel, but gives up after a timeout. With a plain unbuffered send, the validator
// then waits forever for a receiver that has left: a task stuck in 'waiting: chan send', one per
// slow request, until memory runs out. The fix: the validator sends under the request's context,
// so it gives up with the request.
import assert from 'node:assert/strict';
import {
  Channel,
  Group,
  background,
  configure,
  dumpTasks,
  enableAmbientTracking,
  isCancellation,
  select,
  sleep,
  withTimeout,
  type Context,
} from 'corral';

configure({ spawnSites: 'always' });
// The naive sender passes no context, so only ambient tracking can tell which task is blocked.
enableAmbientTracking();

async function terminologyLookup(ctx: Context): Promise<string> {
  await sleep(ctx, 50); // slower than the handler is willing to wait
  return 'LOINC 44249-1';
}

async function handleSubmission(group: Group, fixed: boolean): Promise<string> {
  const { ctx, cancel } = withTimeout(background(), 10);
  const results = new Channel<string>(0, { name: 'terminology-results' });
  group.go(async () => {
    const code = await terminologyLookup(background());
    // Naive: results.send(code) blocks forever once the handler stopped listening.
    if (fixed) await results.send(code, ctx).catch((err) => assert.ok(isCancellation(err), 'gave up with the request'));
    else await results.send(code);
  }, { name: 'validate' });
  try {
    const r = await select([results.recvCase()], { ctx });
    return String(r.value);
  } catch (err) {
    return isCancellation(err) ? 'timed out' : Promise.reject(err);
  } finally {
    cancel();
  }
}

const leaky = new Group(background(), { name: 'naive' });
assert.equal(await handleSubmission(leaky, false), 'timed out');
await sleep(background(), 80);
const dump = dumpTasks();
assert.match(dump, /"validate" \[waiting: chan send/);
console.log('naive version, after the request timed out:\n' + dump);
leaky.cancel(); // the stuck sender never obeys: it has no context. It stays until the process ends.

const fixed = new Group(background(), { name: 'fixed' });
assert.equal(await handleSubmission(fixed, true), 'timed out');
await fixed.wait(); // the validator gave up with the request: nothing is left
console.log(`fixed version: ${fixed.running} tasks left after the request timed out`);
