// An ePRO service's lifecycle with corral/app: a database pool (a resource: it only needs
// closing), a reminder scheduler that runs every 100 ms under the app's context, and an intake
// service that depends on the database. Started, left to work for a moment, then stopped from
// code, as a deploy's SIGTERM would through app.main(): the scheduler is cancelled first, then
// intake stops, then the pool closes, each within its own timeout, and the report says so.
import assert from 'node:assert/strict';
import { every, sleep, background, type Context } from 'corral';
import { App } from 'corral/app';

const order: string[] = [];

// Stands in for a pg/mysql pool: open when created, closed by the app at the very end.
const db = {
  open: true,
  async end(): Promise<void> {
    await sleep(background(), 20); // connections say goodbye
    this.open = false;
    order.push('db closed');
  },
};

const app = new App({ name: 'epro', shutdownTimeout: 5_000, logger: false });
app.resource('db', () => db.end(), { timeout: 2_000 });
app.add({
  name: 'intake',
  dependsOn: ['db'],
  stopTimeout: 1_000,
  start: () => void order.push('intake started'),
  stop: () => void order.push(`intake stopped (db open: ${db.open})`),
});
let reminders = 0;
app.add({
  name: 'reminders',
  dependsOn: ['db'],
  // Long-running work: its ctx is cancelled at shutdown, before intake stops and the db closes.
  run: (ctx: Context) =>
    every(ctx, 100, () => {
      reminders++; // would query due questionnaires and send reminders
    }),
});

await app.start();
console.log('health:', app.health());
await sleep(background(), 350);

const report = await app.stop(); // what main() does on SIGTERM
order.push('stopped');
console.log(`reminders sent: ${reminders}`);
console.log(`steps: ${report.steps.map((s) => `${s.name} ${s.ms} ms`).join(', ')}`);
for (const s of report.services) console.log(`  ${s.kind} ${s.name}: ${s.ok ? 'ok' : 'FAILED'} (${s.ms} ms)`);

assert.equal(report.ok, true);
assert.equal(report.exitCode, 0);
assert.ok(reminders >= 2, 'the scheduler ran while the app was up');
assert.deepEqual(order, ['intake started', 'intake stopped (db open: true)', 'db closed', 'stopped']);
assert.equal(app.health().state, 'stopped');
