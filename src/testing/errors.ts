/**
 * The error a leak check fails with.
 * @module
 */
import type { Leaks } from './report.js';

/**
 * LeakError is what {@link checkLeaks} rejects with, and a guard's `after()`, when something the
 * test started is still there once it has had time to settle: tasks still alive (or certainly
 * stuck), handles still open, abort listeners left on live signals. The message is the grouped
 * report (names, states, ages, spawn sites, owners; never task arguments or results); `leaks`
 * holds the same as data.
 *
 * @example
 * ```ts
 * try { await checkLeaks(() => handleSubmission(req)); }
 * catch (err) {
 *   if (err instanceof LeakError) console.log(err.leaks.tasks.map((t) => t.spawnSite));
 *   throw err;
 * }
 * ```
 */
export class LeakError extends Error {
  /** Always `'ERR_CORRAL_LEAK'`. */
  readonly code = 'ERR_CORRAL_LEAK' as const;
  /** What was left, as data. */
  readonly leaks: Leaks;
  constructor(message: string, leaks: Leaks) {
    super(message);
    this.name = 'LeakError';
    this.leaks = leaks;
  }
}
