// example: long-running (the examples runner stops it with SIGINT and expects a clean exit)
//
// What `npm start` runs until the demo service lands: a group of clinical background jobs doing
// periodic work, a live task dump every few seconds, and a clean stop on Ctrl+C.
import { Group, background, configure, dumpTasks, every, isCancellation, sleep, withCancel, type Context } from 'corral';

configure({ spawnSites: 'always' });

const { ctx: root, cancel } = withCancel(background());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: telling every task to stop`);
    cancel(new Error(signal));
  });
}

const group = new Group(root, { name: 'clinic-jobs' });

// Hourly in production; every 700 ms here. A sync slower than its period never overlaps itself.
group.go(
  (ctx) =>
    every(ctx, 700, async (run: Context) => {
      await sleep(run, 300 + Math.random() * 700); // pretend to pull from the hospital system
    }, { name: 'his-sync', overlap: 'skip' }),
  { name: 'his-sync-scheduler' },
);

// A few questionnaire scorers, each working through its own little queue.
for (let i = 1; i <= 3; i++) {
  group.go(async (ctx) => {
    for (;;) await sleep(ctx, 200 + i * 150);
  }, { name: 'epro-scorer', labels: { worker: String(i) } });
}

group.go(async (ctx) => {
  for (;;) {
    await sleep(ctx, 2_000);
    console.log(dumpTasks());
  }
}, { name: 'dump-printer' });

console.log(`corral demo: ${group.running} tasks started; Ctrl+C stops them cleanly`);
try {
  await group.wait();
} catch (err) {
  if (!isCancellation(err)) throw err;
}
console.log(`stopped cleanly: ${group.running} tasks running, cause: ${String((root.cause as Error).message)}`);
