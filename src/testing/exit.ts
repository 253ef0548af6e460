/**
 * The exit report: when the event loop is empty, nothing can settle anything any more, so every
 * task still pending is certainly stuck. Node says when that is: `beforeExit`.
 * @module
 */
import { forEachEntry, type Entry } from '../registry.js';
import { collectUnreachable } from '../unreachable.js';
import { describe } from '../validate.js';
import { collect } from './collect.js';
import { enterTestMode } from './leak-check.js';
import { resolveOptions, type LeakIgnore } from './options.js';
import { formatLeaks } from './report.js';
import { markReported } from './reported.js';
import { isBaseline } from './baseline.js';

/** Options for {@link reportStuckAtExit}. */
export interface ExitReportOptions {
  /** Set `process.exitCode` to this when stuck tasks are found, to fail a CI run. Default: leave it alone. */
  exitCode?: number;
  /** Tasks never reported (names, sites, states). */
  ignore?: LeakIgnore;
  /** Where the report goes. Default: `process.stderr`. */
  write?: (text: string) => void;
}

/**
 * reportStuckAtExit reports, when the process is about to exit because its event loop is empty
 * (`beforeExit`), every task still pending: none of them can ever finish. It forces garbage
 * collections first, so the ones that were unreachable say so, with the state they were in. Each
 * task is reported once; a `beforeExit` listener that starts new work gets it checked again at the
 * next `beforeExit`. Not called on `process.exit()` or a signal: the loop was not empty then. Returns
 * a function that removes the report.
 *
 * @throws TypeError/RangeError for bad options.
 * @example
 * ```ts
 * // in a test setup file, or the CLI's run mode: fail the run when tasks are stuck at the end
 * reportStuckAtExit({ exitCode: 1 });
 * ```
 */
export function reportStuckAtExit(options: ExitReportOptions = {}): () => void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`reportStuckAtExit: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (k !== 'exitCode' && k !== 'ignore' && k !== 'write') throw new TypeError(`reportStuckAtExit: unknown option ${JSON.stringify(k)}`);
  }
  const { exitCode, write } = options;
  if (exitCode !== undefined && (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255)) {
    throw new RangeError(`reportStuckAtExit: exitCode must be an integer from 0 to 255 (got ${describe(exitCode)})`);
  }
  if (write !== undefined && typeof write !== 'function') {
    throw new TypeError(`reportStuckAtExit: write must be a function (got ${describe(write)})`);
  }
  const opts = resolveOptions({ scope: 'all', ignore: options.ignore, handles: false, abortListeners: false }, 'reportStuckAtExit', isBaseline);
  const out = write ?? ((text: string) => void process.stderr.write(text));
  enterTestMode(false);
  const reported = new WeakSet<Entry>();
  let collecting = false;

  function unreported(): boolean {
    let any = false;
    forEachEntry((e) => {
      if (e.kind === 'task' && !reported.has(e)) any = true;
    });
    return any;
  }

  function onBeforeExit(): void {
    if (collecting || !unreported()) return;
    collecting = true;
    // Collecting takes a few turns, which keeps the loop alive; beforeExit comes again after.
    void collectUnreachable().then(report);
  }

  function report(): void {
    collecting = false;
    const { leaks, entries } = collect({ opts, window: { taskId: 0, handleSeq: 0, listenerSeq: 0 }, scope: undefined, atExit: true });
    // Every pending task is seen now, ignored ones too: the next beforeExit looks only at new ones.
    const seen = new Set<number>();
    forEachEntry((e) => {
      if (e.kind !== 'task') return;
      if (reported.has(e)) seen.add(e.id);
      else reported.add(e);
    });
    const fresh = leaks.tasks.filter((t) => !seen.has(t.id));
    if (fresh.length === 0) return;
    const report = { tasks: fresh, handles: [], abortListeners: [] };
    markReported(report, entries, []);
    out(formatLeaks(report, 'corral: at exit, with the event loop empty'));
    if (exitCode !== undefined) process.exitCode = exitCode;
  }

  process.on('beforeExit', onBeforeExit);
  return () => {
    process.off('beforeExit', onBeforeExit);
  };
}
