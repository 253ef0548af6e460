/**
 * Baselines: "whatever is alive now is not the test's doing", like goleak's IgnoreCurrent.
 * @module
 */
import { listenerSeq, retainListeners } from './abort-listeners.js';
import { currentTaskId, hookSpawnsForWindow, type Window } from './scope.js';
import { handleTracker } from './tracker.js';

const made = new WeakSet<object>();

/** A point in time from {@link takeBaseline}: what was alive then is never reported by a check given it. */
export interface Baseline {
  /** Epoch milliseconds when it was taken. */
  readonly takenAt: number;
}

/** @internal */
export interface BaselineImpl extends Baseline {
  readonly window: Window;
}

/** The window opening now. Starts the handle tracker and listener notes if they are not running yet. @internal */
export function windowNow(): Window {
  hookSpawnsForWindow();
  const handleSeq = handleTracker().mark();
  return { taskId: currentTaskId(), handleSeq, listenerSeq: listenerSeq() };
}

let listening = false;

/**
 * takeBaseline records what is alive now (tasks, handles, abort listeners), for a check's
 * `baseline` option: none of it will be reported. From the first baseline on, handles and abort
 * listeners are tracked (see docs/testing.md for the cost), so take it early: in a setup file, or
 * at the top of the test file.
 *
 * @example
 * ```ts
 * const baseline = takeBaseline(); // after the shared fixtures started
 * afterAll(() => checkLeaks(async () => {}, { scope: 'all', baseline }));
 * ```
 */
export function takeBaseline(): Baseline {
  if (!listening) {
    // Listeners added after a baseline must be noted even when no check is open yet.
    listening = true;
    retainListeners();
  }
  const b: BaselineImpl = Object.freeze({ takenAt: Date.now(), window: windowNow() });
  made.add(b);
  return b;
}

/** Whether `v` came from {@link takeBaseline}. @internal */
export function isBaseline(v: unknown): v is BaselineImpl {
  return typeof v === 'object' && v !== null && made.has(v);
}
