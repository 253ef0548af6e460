// A deploy stops the questionnaire-scoring pool in the middle of a batch. Every submission the
// pool accepted is accounted for in the shutdown report: completed, failed (its error went to its
// submitter), or handed back (unprocessed: never started; interrupted: cancelled while running)
// to be persisted and scored after the restart. One scoring call throws on the way: the pool
// reports it to onError and carries on. Nothing accepted is lost.
import assert from 'node:assert/strict';
import { background, isCancellation, sleep, type Context } from 'corral';
import { PoolClosedError, WorkerPool } from 'corral/pool';

interface Submission {
  id: string;
  answers: number[]; // clinical data: never in a label or a log line
}

const outbox: Submission[] = []; // stands in for a durable table the next start drains first
function persist(s: Submission, why: string): void {
  outbox.push(s);
  console.log(`persisted ${s.id} (${why})`);
}

let outage = true; // the terminology service fails one call, once
async function score(s: Submission, ctx: Context): Promise<number> {
  await sleep(ctx, 100); // scoring, simulated
  if (s.id === 'S-02' && outage) {
    outage = false;
    throw new Error('terminology service returned 503');
  }
  return s.answers.reduce((a, b) => a + b, 0);
}

const pool = new WorkerPool(score, {
  name: 'epro-scoring',
  concurrency: 2,
  queueSize: 6,
  onFull: 'reject',
  onError: (err, s) => console.log(`onError: ${s.id}: ${(err as Error).message}`),
});

const scored: string[] = []; // ids, once per successful scoring
let accepted = 0; // since the last (re)start: what the report must account for
function submit(s: Submission): void {
  const p = pool.trySubmit(s, { label: s.id });
  if (p === false) return persist(s, 'not accepted: the pool is full or shut down'); // still ours
  accepted++;
  p.then(
    () => void scored.push(s.id),
    (err: unknown) => {
      // Never started, or cancelled by the shutdown (this pool sets no job timeout, so a
      // cancellation can only be the shutdown's): the report hands it back.
      if (err instanceof PoolClosedError || isCancellation(err)) return;
      persist(s, `failed: ${(err as Error).message}`); // the submitter decides what a failure means
    },
  );
}

const batch: Submission[] = Array.from({ length: 10 }, (_, i) => ({
  id: `S-${String(i + 1).padStart(2, '0')}`,
  answers: [1, 2, 0, i % 4],
}));
for (const s of batch) submit(s); // 2 start, 6 wait in the queue, 2 are refused

await sleep(background(), 150);
const st = pool.stats();
console.log(`after the failure: ${st.workers} workers, ${st.running} running, ${st.queued} queued, ${st.failed} failed`);
assert.equal(st.workers, 2, 'a throwing job never kills a worker');

await sleep(background(), 100);
// The deploy: finish what can finish in 20 ms, then cancel the rest and hand it back.
const report = await pool.shutdown({ mode: 'drain', timeout: 20 });
for (const s of report.unprocessed) persist(s, 'unprocessed at shutdown');
for (const s of report.interrupted) persist(s, 'interrupted at shutdown');
const { completed, failed, withdrawn, unprocessed, interrupted } = report;
console.log(
  `report: accepted ${accepted} = completed ${completed} + failed ${failed} + withdrawn ${withdrawn}` +
    ` + unprocessed ${unprocessed.length} + interrupted ${interrupted.length}`,
);
assert.equal(accepted, completed + failed + withdrawn + unprocessed.length + interrupted.length);

// A submission that arrives after the shutdown began is refused with the job attached.
await pool.submit({ id: 'S-11', answers: [3, 3, 3, 3] }, { label: 'S-11' }).catch((err: unknown) => {
  if (!(err instanceof PoolClosedError)) throw err;
  persist(err.job as Submission, `${err.code}`);
});

// The next start (here: the same pool, restarted) scores the outbox first.
pool.restart();
accepted = 0;
pool.resize(4);
for (const s of outbox.splice(0)) submit(s);
const second = await pool.shutdown();
console.log(`after the restart: completed ${second.completed} of ${accepted}, outbox left: ${outbox.length}`);

const expected = [...batch.map((s) => s.id), 'S-11'].sort();
assert.deepEqual(scored.sort(), expected, 'every submission scored exactly once');
console.log(`scored: ${scored.join(' ')}`);
