/**
 * Processing of stored submissions: a WorkerPool of scorers fed by a dispatcher that reads the
 * pending rows from the database.
 *
 * The database, not the pool's queue, is the source of truth: a submission is pending until the
 * transaction that records its result, so whatever a shutdown (or a SIGKILL) leaves unfinished is
 * still pending at the next start and the dispatcher picks it up. At most `concurrency +
 * queueSize` submissions are in the pool at once; the rest wait in the table, which costs no
 * memory and survives a restart.
 *
 * A scorer calls the terminology service with the job's context and a timeout, then cleans and
 * scores the answers and records the result. A failed call (an error, a timeout) is an attempt:
 * the submission is due again after a backoff, and becomes `failed` after `maxAttempts`. A call
 * the shutdown cancelled is not an attempt: the submission stays pending, untouched.
 *
 * Rejected design: submitting each new row to the pool straight from the HTTP handler. A burst
 * would then grow the pool's queue without bound (or refuse rows the table had already
 * accepted), and rows left over from the previous run would need a second path. One dispatcher
 * reading the table serves both.
 * @module
 */
import { Channel, isCancellation, withTimeout, type Context } from 'corral';
import type { Service } from 'corral/app';
import { WorkerPool, type ShutdownReport } from 'corral/pool';
import { cleanSymptoms, score } from './forms.js';
import type { Log } from './log.js';
import type { Store } from './store.js';
import { codeTerms, failureReason } from './terminology.js';

export interface ProcessingOptions {
  terminologyUrl: string;
  /** Scorers running at once. */
  concurrency: number;
  /** Submissions queued in the pool beyond those running. */
  queueSize: number;
  /** Each terminology call's time limit, ms. */
  callTimeoutMs: number;
  /** Attempts before a submission is `failed`. */
  maxAttempts: number;
  /** The first retry's delay, ms; it doubles with each attempt (capped at 60 s). */
  retryBaseMs: number;
  /** How long the pool keeps scoring at shutdown, ms (within the App's budget); what is left stays pending. */
  drainTimeoutMs: number;
  /** Names of the services the scorers need running (the simulators, when embedded). */
  dependsOn: string[];
}

/** The summary of the pool's drain returned by the service's stop (never the jobs themselves). */
export interface DrainSummary {
  completed: number;
  failed: number;
  /** Submissions handed back by the drain: they stay pending in the database. */
  leftPending: number;
  stuck: number;
  durationMs: number;
}

export interface Processing {
  /** The App service: `run` is the dispatcher, `stop` drains the pool. */
  readonly service: Service;
  readonly pool: WorkerPool<number, void>;
  /** Tells the dispatcher a new submission is in the table. Cheap; coalesces. */
  notify(): void;
}

/** When nothing wakes the dispatcher, it still looks at the table this often (a safety net). */
const IDLE_POLL_MS = 1_000;

export function createProcessing(store: Store, o: ProcessingOptions, log: Log): Processing {
  // A buffer of one: any number of notifications while the dispatcher is busy collapse into one
  // wake-up, like Go's `select { case notify <- struct{}{}: default: }`.
  const wake = new Channel<true>(1);
  const notify = (): void => void wake.trySend(true);
  /** Submissions in the pool (queued or running). Only the dispatcher adds; settling removes. */
  const inPool = new Set<number>();

  const pool: WorkerPool<number, void> = new WorkerPool<number, void>(
    async (id: number, ctx: Context): Promise<void> => {
      const sub = store.load(id);
      if (sub === undefined || sub.status !== 'pending') return;
      let coding;
      try {
        coding = await codeTerms(ctx, o.terminologyUrl, sub.formId, cleanSymptoms(sub.symptoms), o.callTimeoutMs);
      } catch (err) {
        // The shutdown cancelled the call: not an attempt. The row stays pending as it is.
        if (pool.closed && ctx.err !== undefined) throw err;
        const backoff = Math.min(60_000, o.retryBaseMs * 2 ** sub.attempts);
        const outcome = await store.attemptFailed(id, failureReason(err), Date.now(), o.maxAttempts, backoff);
        if (outcome === 'failed') log.warn(`submission ${id} failed after ${o.maxAttempts} attempts: ${failureReason(err)}`);
        return;
      }
      if (!(await store.complete(id, score(sub, coding), Date.now()))) {
        log.warn(`submission ${id} was no longer pending when its result was ready: result discarded`);
      }
    },
    {
      name: 'scoring',
      concurrency: o.concurrency,
      queueSize: o.queueSize,
      onFull: 'reject',
      // The call has its own timeout; this one only catches a scorer stuck elsewhere.
      jobTimeout: o.callTimeoutMs + 5_000,
      onError: (err, id) => {
        if (pool.closed && isCancellation(err)) return; // handed back by the drain: still pending
        log.error(`scoring submission ${id} failed: ${(err as Error)?.message ?? String(err)}`);
      },
    },
  );

  const settled = (id: number) => (): void => {
    inPool.delete(id);
    notify();
  };

  async function dispatch(ctx: Context): Promise<void> {
    const capacity = o.concurrency + o.queueSize;
    while (ctx.err === undefined) {
      let blocked = inPool.size >= capacity;
      if (!blocked) {
        for (const id of store.due(Date.now(), capacity - inPool.size, inPool)) {
          const p = pool.trySubmit(id, { label: `submission ${id}` });
          if (p === false) {
            blocked = true;
            break;
          }
          inPool.add(id);
          p.then(settled(id), settled(id));
        }
        blocked ||= inPool.size >= capacity;
      }
      // Sleep until a new submission or a finished one wakes us, or the next retry is due.
      let waitMs = IDLE_POLL_MS;
      if (!blocked) {
        const next = store.nextDue(inPool);
        // At least 1 ms: a row that came due between the two queries costs a millisecond, never a
        // loop that does not yield.
        if (next !== undefined) waitMs = Math.min(IDLE_POLL_MS, Math.max(1, next - Date.now()));
      }
      const { ctx: waitCtx, cancel } = withTimeout(ctx, waitMs);
      try {
        await wake.recv(waitCtx);
      } catch (err) {
        if (ctx.err !== undefined) throw err;
      } finally {
        cancel();
      }
    }
  }

  const service: Service = {
    name: 'scoring',
    dependsOn: o.dependsOn,
    // Before the first run the table may already hold pending rows: the last run's leftovers.
    start: () => {
      const { pending } = store.counts();
      if (pending > 0) log.info(`resuming ${pending} pending submission(s) from the last run`);
    },
    run: dispatch,
    // The dispatcher was cancelled before this (the App's cancel-runs step): nothing new comes in.
    // Queued jobs need not run before the exit (they are pending rows), but a scorer half-way
    // through a call is worth finishing: drain for a while, then hand the rest back.
    stop: async (ctx: Context): Promise<DrainSummary> => {
      const left = ctx.deadline === undefined ? Infinity : ctx.deadline - Date.now();
      // Keep a little of the budget for the grace the cancelled scorers get to settle.
      const timeout = Math.max(0, Math.min(o.drainTimeoutMs, left - 1_000));
      const report: ShutdownReport<number> = await pool.shutdown({ mode: 'drain', timeout, grace: 500 });
      const summary: DrainSummary = {
        completed: report.completed,
        failed: report.failed,
        leftPending: report.unprocessed.length + report.interrupted.length,
        stuck: report.stuck,
        durationMs: Math.round(report.durationMs),
      };
      log.info(
        `scoring pool drained in ${summary.durationMs} ms (${summary.completed} jobs run since start); ` +
          `${summary.leftPending} handed back, pending for the next start`,
      );
      return summary;
    },
  };
  return { service, pool, notify };
}
