// The seeds' hourly HIS sync (seed 000): `for range ticker.C { go syncDataFromHIS() }`. When one
// sync hangs longer than the period, the next tick starts another beside it, and stuck syncs pile
// up until the service falls over. Periods here are milliseconds instead of an hour; a sync that
// "hangs" waits on a gate the test holds, and every wait below is bounded.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Group, background, every, sleep, withCancel, type Context } from '../src/index.js';
import { checkLeaks, LeakError } from '../src/testing/index.js';

const PERIOD = 5;

/** A HIS that hangs until released, counting the syncs in flight. */
function hangingHis() {
  let release!: () => void;
  const hung = new Promise<void>((r) => (release = r));
  const his = { inFlight: 0, maxInFlight: 0, release };
  const sync = async (_ctx: Context): Promise<void> => {
    his.inFlight++;
    his.maxInFlight = Math.max(his.maxInFlight, his.inFlight);
    try {
      await hung; // the naive sync passes no context down: nothing can stop it
    } finally {
      his.inFlight--;
    }
  };
  return { his, sync };
}

/** Waits until `cond` holds, checking every period, for at most 2 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !cond(); waited += PERIOD) {
    assert.ok(waited < 2_000, `timed out waiting until ${what}`);
    await sleep(background(), PERIOD);
  }
}

describe('seed: the hourly HIS sync that piles up when one run hangs', () => {
  test('naive: a bare interval starts a sync per tick; hung syncs pile up, and the leak check names the interval and the syncs', async () => {
    const { his, sync } = hangingHis();
    const jobs = new Group(background(), { name: 'his-jobs' });
    let ticker: ReturnType<typeof setInterval> | undefined;
    let err: unknown;
    try {
      await checkLeaks(async () => {
        ticker = setInterval(() => jobs.go(sync, { name: 'his-sync' }), PERIOD);
        await until(() => his.inFlight >= 3, 'three syncs run at once');
      }, { settle: 20 });
    } catch (e) {
      err = e;
    }
    clearInterval(ticker);
    assert.ok(his.maxInFlight >= 3, `runs overlapped: ${his.maxInFlight} at once`);
    assert.ok(err instanceof LeakError, `the leak check failed: ${String(err)}`);
    assert.ok(err.leaks.tasks.length >= 3, 'every hung sync is reported');
    assert.match(err.message, /\d+ tasks "his-sync" \[running, oldest \d+ms\]/);
    assert.match(err.message, /1 Timeout "setInterval 5 ms" \[keeps the process alive, oldest \d+ms\]\n {4}at .*seeds-his-sync\.test\.ts/);
    his.release();
    await jobs.wait();
  });

  test("fixed: every() with overlap 'skip' never starts a sync while one runs, counts the ticks it skipped, and stops with its context", async () => {
    const { his, sync } = hangingHis();
    await checkLeaks(async () => {
      const { ctx, cancel } = withCancel(background());
      const loop = every(ctx, PERIOD, sync, { name: 'his-sync', overlap: 'skip' });
      await until(() => his.inFlight === 1, 'the first sync hangs');
      await sleep(background(), PERIOD * 6); // six ticks come and go while it hangs
      assert.equal(loop.runs, 1, 'one run, still hung');
      assert.equal(his.maxInFlight, 1);
      his.release();
      // The loop counts the ticks that fell during the run when the run ends (by the clock, so
      // at least the six periods slept above, less one for the tick that runs next).
      await until(() => loop.skipped >= 5, 'the ticks that came during the hung run were counted as skipped');
      cancel(); // shutdown: no new run starts, and the loop ends
      await assert.rejects(loop, { code: 'ERR_CORRAL_CANCELED' });
    });
    assert.equal(his.maxInFlight, 1, 'never two syncs at once');
  });
});
