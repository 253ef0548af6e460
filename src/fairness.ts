/**
 * Fairness with the event loop: when channel operations must step aside for timers and I/O.
 *
 * A hand-off settles a promise, so the other side runs in a microtask: two tasks ping-ponging
 * over channels never return to the event loop, and timers, I/O and signals starve (Go's
 * scheduler preempts goroutines; we have only microtasks). So operations that complete without
 * waiting are counted per macrotask turn. Once {@link YIELD_BUDGET} of them have completed and
 * the turn has lasted {@link YIELD_SLICE_MS}, every send, recv and select waits for
 * `setImmediate` (where timers and I/O get their turn) before it starts, also one that would
 * have waited anyway: deferring only the operations that could complete lets the other side find
 * nothing and park, and a buffered stream that ran without any waiting then settles into parking
 * on every message (measured: 35–40% of its throughput lost).
 *
 * Costs: one `setImmediate` per macrotask turn that uses channels (scheduled by the turn's first
 * operation, it ends the turn) and one clock read then and every {@link YIELD_BUDGET} operations.
 * Every operation deferred in one turn resumes from one shared promise, in the order it yielded,
 * so producer and consumer come back in step.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Yielding on a timer: setTimeout clamps to 1 ms, far too slow.
 * - Yielding every N operations per channel: two channels ping-ponging each stay under a
 *   per-channel budget.
 * - Yielding on the count alone (every 1,024 operations): a yield costs more than an event loop
 *   turn, since it can knock a stream out of step (above); one per slice keeps that rare.
 * - One `setImmediate` per deferred operation: they resume in separate macrotasks, out of step.
 * @module
 */

/**
 * Operations completed without waiting in one macrotask turn between two looks at the clock; the
 * turn yields at the first look that finds {@link YIELD_SLICE_MS} passed.
 */
export const YIELD_BUDGET = 1024;

/** How long a turn of channel operations may keep timers and I/O waiting, in milliseconds. */
export const YIELD_SLICE_MS = 2;

/** The clock (replaced only by tests, through {@link setClock}). */
let clock: () => number = () => performance.now();

/** @internal Test hook: replaces the clock, or restores the real one when called with no argument. */
export function setClock(now?: () => number): void {
  clock = now ?? (() => performance.now());
}

/** Operations completed without waiting in this macrotask turn (0: no end-of-turn immediate pending). */
let opsThisTurn = 0;
/** The count at which {@link checkTurn} runs next: the turn's first operation, then every YIELD_BUDGET. */
let nextCheck = 1;
/** When this turn's first operation ran (on {@link clock}). */
let turnStart = 0;
/** The turn's slice is spent: operations about to complete wait for the next turn. */
let spent = false;
/** The promise every operation deferred in this turn waits on, or null. */
let resume: Promise<void> | null = null;

function endTurn(): void {
  opsThisTurn = 0;
  nextCheck = 1;
  spent = false;
}

/**
 * Counts one operation completed without waiting. Kept tiny so it inlines into every caller's
 * hot path; the rest is in checkTurn (measured: one function with both cost ~10% of a ping-pong).
 * @internal
 */
export function countOp(): void {
  if (++opsThisTurn >= nextCheck) checkTurn();
}

function checkTurn(): void {
  if (opsThisTurn === 1) {
    setImmediate(endTurn);
    turnStart = clock();
  } else if (clock() - turnStart >= YIELD_SLICE_MS) {
    spent = true;
  }
  nextCheck = opsThisTurn === 1 ? YIELD_BUDGET : nextCheck + YIELD_BUDGET;
}

/** Whether this turn's slice is spent, so an operation about to complete must yield first. @internal */
export function mustYield(): boolean {
  return spent;
}

function resumeNextTurn(resolve: () => void): void {
  setImmediate(() => {
    resume = null;
    resolve();
  });
}

/** Resolves after timers and I/O had their turn; every caller in one turn gets the same promise. @internal */
export function yieldTurn(): Promise<void> {
  return (resume ??= new Promise<void>(resumeNextTurn));
}
