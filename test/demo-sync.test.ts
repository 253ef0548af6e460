// The ePRO demo's HIS sync against a slow hospital system (seed 000's ticker story): each page
// takes longer than the sync interval. The managed sync (`every`, overlap 'skip') never runs two
// syncs at once and stops with the app; the --leaky one (a bare interval) piles syncs up.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHisSim } from '../demo/src/his-sim.js';
import { startTerminologySim } from '../demo/src/terminology-sim.js';
import { startDemo, tempDir, until, type DemoProcess } from '../demo/testing/harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

async function withSlowHis(leaky: boolean, check: (demo: DemoProcess, his: Awaited<ReturnType<typeof startHisSim>>) => Promise<void>): Promise<void> {
  const dir = tempDir(leaky ? 'sync-leaky' : 'sync');
  // 300 ms a page, 100 records a page, 300 patients: a sync takes ~1 s; the interval is 200 ms.
  const his = await startHisSim({ latencyMs: 300, patients: 300, churn: 0 });
  const terminology = await startTerminologySim({ latencyMs: 5 });
  let demo: DemoProcess | undefined;
  try {
    demo = await startDemo(
      ['--db', join(dir.path, 'epro.sqlite'), '--his-url', his.url, '--terminology-url', terminology.url, '--sync-interval', '200ms', ...(leaky ? ['--leaky'] : [])],
      { verbose: true },
    );
    await check(demo, his);
  } finally {
    if (demo !== undefined && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.kill('SIGKILL');
      await demo.exited;
    }
    await his.close();
    await terminology.close();
    dir.dispose();
  }
}

describe('the ePRO demo syncing from a slow HIS', () => {
  test('managed: a sync slower than its interval is never overlapped by the next one, and SIGTERM stops it', async () => {
    await withSlowHis(false, async (demo, his) => {
      await until(() => (demo.stderr.match(/HIS sync: \d+ record/g) ?? []).length >= 2, 'two syncs to complete', 15_000);
      assert.equal(his.stats().maxInFlight, 1, 'one page in flight at a time: the syncs never overlapped');
      assert.match(demo.stderr, /HIS sync: 300 record\(s\)/, 'the first sync brought every patient');
      demo.kill('SIGTERM');
      assert.equal((await demo.exited).code, 0, demo.stderr);
      assert.doesNotMatch(demo.stderr, /HIS sync failed/, 'a sync cut by the shutdown is a cancellation, not a failure');
    });
  });

  test('--leaky: the interval starts a sync at every tick, and they pile up', async () => {
    await withSlowHis(true, async (demo, his) => {
      await until(() => his.stats().maxInFlight >= 3, 'syncs to overlap', 15_000);
      assert.ok(his.stats().maxInFlight >= 3, `several syncs at once (${his.stats().maxInFlight})`);
      demo.kill('SIGTERM');
      // The interval nobody cleared keeps the process alive: App.main() gives up and exits 1.
      assert.equal((await demo.exited).code, 1);
      assert.match(demo.stderr, /still running: task "his-sync \(interval\)"/);
    });
  });
});
