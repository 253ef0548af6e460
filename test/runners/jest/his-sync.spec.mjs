// The seeds' hourly HIS sync, twice: a bare interval that starts a sync per tick, left running when
// the test ends, and the same work under every() stopped with its context.
import { expect, test } from '@jest/globals';
import { Group, background, every, sleep, withCancel } from 'corral';

const syncFromHis = (ctx) => sleep(ctx, 5);

test('every() under a context stops with it and leaves nothing behind', async () => {
  const { ctx, cancel } = withCancel(background());
  const sync = every(ctx, 10, syncFromHis, { name: 'his-sync' });
  await sleep(background(), 35);
  cancel();
  await sync.catch(() => {});
  expect(sync.runs).toBeGreaterThan(0);
});

test('a bare interval started by the test is left running', () => {
  const jobs = new Group(background(), { name: 'his-jobs' });
  setInterval(() => jobs.go(syncFromHis, { name: 'his-sync' }), 60_000);
});
