/**
 * The task duration histogram: fed by the registry's finish slot, so it costs every finishing
 * task a few integer operations while metrics are on, and nothing while they are off.
 *
 * Buckets are powers of two in milliseconds, 1 ms to 2^21 ms (about 35 minutes), then +Inf: the
 * bucket is one `Math.clz32`, where decimal bounds (0.005, 0.01, 0.025, ...) would need a search.
 * The registry's clock is coarse (a reading is reused for the rest of a macrotask turn), so a task
 * that ends in the turn it started in measures 0 ms: below 1 ms the histogram cannot resolve.
 *
 * Rejected: one prom-client Histogram.observe() per task. It hashes the label set and walks the
 * buckets on every call, more than the rest of a task's bookkeeping; here a scrape reads the
 * counts instead.
 * @module
 */
import { now, type Entry } from '../registry.js';
import { addFinishObserver, removeFinishObserver } from './metrics-hooks.js';

/** Finite buckets: `le` of bucket k is 2^k ms. */
const FINITE = 22;
/** The `le` of the last finite bucket, in ms; a longer task goes to +Inf. */
const MAX_MS = 2 ** (FINITE - 1);

// Float64Array rather than plain numbers: a store never allocates (a module-level number past the
// small-integer range would become a heap number on every update), and counts cannot overflow.
const counts = new Float64Array(FINITE + 1);
/** [sum of durations in ms, number of durations]. */
const acc = new Float64Array(2);

function observeDuration(task: Entry): void {
  const d = now() - task._startedAt;
  const ms = d > 0 ? d : 0;
  // (2^(k-1), 2^k] ms lands in bucket k: clz32 of ms-1 counts the bits below 2^k.
  const k = ms > MAX_MS ? FINITE : ms <= 1 ? 0 : 32 - Math.clz32(ms - 1);
  counts[k] = (counts[k] as number) + 1;
  acc[0] = (acc[0] as number) + ms;
  acc[1] = (acc[1] as number) + 1;
}

let enabled = false;

/** Starts recording task durations. Idempotent. @internal */
export function enableDurations(): void {
  if (enabled) return;
  enabled = true;
  addFinishObserver(observeDuration);
}

/** Stops recording task durations; what was recorded is kept. Idempotent. @internal */
export function disableDurations(): void {
  if (!enabled) return;
  enabled = false;
  removeFinishObserver(observeDuration);
}

/** Whether durations are being recorded. @internal */
export function durationsEnabled(): boolean {
  return enabled;
}

/** The bucket bounds as `le` label values, in seconds. */
const BOUNDS: readonly string[] = Array.from({ length: FINITE }, (_, k) => String(2 ** k / 1000));

/** The histogram as exposition data: cumulative bucket counts (+Inf last), sum in seconds, count. @internal */
export interface DurationData {
  bounds: readonly string[];
  cumulative: number[];
  sumSeconds: number;
  count: number;
}

/** Reads the histogram. @internal */
export function readDurations(): DurationData {
  const cumulative = new Array<number>(FINITE + 1);
  let run = 0;
  for (let k = 0; k <= FINITE; k++) {
    run += counts[k] as number;
    cumulative[k] = run;
  }
  return { bounds: BOUNDS, cumulative, sumSeconds: (acc[0] as number) / 1000, count: acc[1] as number };
}
