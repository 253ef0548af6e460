// The seeds' clinical monitoring service: uploaded medical images are processed by a pool of 3
// workers; at the end of the batch the pool is shut down with 'drain'. The report shows all 10
// images processed, and the registry shows no worker left behind. Labels name the image, never
// the patient: a dump is safe to paste into a ticket.
import assert from 'node:assert/strict';
import { background, liveCounts, sleep, snapshot, type Context } from 'corral';
import { WorkerPool } from 'corral/pool';

interface UploadedImage {
  id: number;
  patientId: string; // clinical data: stays in the job, never in a label, a log line or a dump
  path: string;
}

interface Findings {
  id: number;
  slices: number;
}

async function processImage(image: UploadedImage, ctx: Context): Promise<Findings> {
  await sleep(ctx, 100); // decoding and analysing the DICOM file, simulated
  return { id: image.id, slices: 40 + image.id };
}

function workers(name: string): string[] {
  return snapshot()
    .tasks.filter((t) => t.name === `${name} worker`)
    .map((t) => `  ${t.name} [${t.state}] ${JSON.stringify(t.labels)}`);
}

const uploads: UploadedImage[] = Array.from({ length: 10 }, (_, i) => ({
  id: i + 1,
  patientId: `P-${4711 + i}`,
  path: `/data/img_${i + 1}.dcm`,
}));
const before = liveCounts();

const pool = new WorkerPool(processImage, { name: 'image-processing', concurrency: 3, jobTimeout: 2_000 });
const results = uploads.map((image) =>
  pool.submit(image, { label: `image-${String(image.id).padStart(2, '0')}` }),
);
const settled = Promise.allSettled(results); // every promise has a handler from the start

await sleep(background(), 30);
console.log(`while processing (${JSON.stringify(liveCounts())}):\n${workers('image-processing').join('\n')}`);
const dump = JSON.stringify(snapshot());
assert.ok(!uploads.some((u) => dump.includes(u.patientId) || dump.includes(u.path)), 'no job data in the registry');

const report = await pool.shutdown({ mode: 'drain', timeout: 2_000 });
console.log(
  `shutdown (${report.mode}) in ${report.durationMs} ms: completed ${report.completed}, failed ${report.failed}, ` +
    `withdrawn ${report.withdrawn}, unprocessed ${report.unprocessed.length}, interrupted ${report.interrupted.length}`,
);
const processed = (await settled).flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
console.log(`processed images: ${processed.join(', ')}`);
assert.equal(report.completed, uploads.length);
assert.deepEqual(processed, uploads.map((u) => u.id));

const { latency } = pool.stats();
console.log(`latency over ${latency.count} jobs: p50 ≤ ${latency.p50} ms, max ${latency.max} ms`);
console.log(`after shutdown: ${JSON.stringify(liveCounts())}, workers left: ${workers('image-processing').length}`);
assert.deepEqual(liveCounts(), before, 'every worker exited and the pool left the registry');
