/**
 * corral/testing: leak checks for node:test, Vitest and Jest. A test fails when, of what it started
 * itself, corral tasks are still alive, handles (timers, sockets, servers, child processes, file
 * handles) are still open, or abort listeners were left on live signals; tasks that can never
 * finish (their pending promise was garbage collected) are named as certain leaks.
 *
 * Importing this module puts the process in test mode: tasks spawned from then on are watched for
 * becoming unreachable (`configure({ detectUnreachable: true })`), and every spawn site is
 * captured unless `CORRAL_SPAWN_SITES` says otherwise. See docs/testing.md.
 * @module
 */
import { enterTestMode } from './leak-check.js';

export { checkLeaks, leakGuard, type LeakGuard } from './leak-check.js';
export { LeakError } from './errors.js';
export { takeBaseline, type Baseline } from './baseline.js';
export { reportStuckAtExit, type ExitReportOptions } from './exit.js';
export type { LeakIgnore, LeakOptions, Matcher } from './options.js';
export type { AbortListenerLeak, Leaks, TaskLeak } from './report.js';
export { collectUnreachable, leakedBySite, leakedCount, type LeakedSite } from '../unreachable.js';

enterTestMode(true);
