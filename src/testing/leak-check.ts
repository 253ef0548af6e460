/**
 * The leak checks: `checkLeaks(fn)` around one piece of work, `leakGuard()` for a runner's hooks.
 * Both settle before they judge, the way goleak does: what is closing (a socket mid-FIN, a task
 * that got its cancellation a tick ago) gets a setImmediate and then an exponential back-off up
 * to `settle` milliseconds before it counts, and garbage collections are forced so tasks that can
 * never finish are found and named as certain.
 * @module
 */
import { config, configure } from '../config.js';
import { InvalidStateError } from '../errors.js';
import { describe } from '../validate.js';
import { collectUnreachable } from '../unreachable.js';
import { releaseListeners, retainListeners } from './abort-listeners.js';
import { isBaseline, windowNow } from './baseline.js';
import { collect, type Check, type Found } from './collect.js';
import { LeakError } from './errors.js';
import { resolveOptions, type LeakOptions } from './options.js';
import { formatLeaks, isEmpty, type Leaks } from './report.js';
import { markReported } from './reported.js';
import { closeScope, openScope, runInScope, startHandleAttribution, stopHandleAttribution, type Window } from './scope.js';

const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Puts the process in test mode: tasks spawned from now on are watched for becoming unreachable,
 * and spawn sites are captured for every task unless `CORRAL_SPAWN_SITES` says otherwise.
 * @internal
 */
export function enterTestMode(sites: boolean): void {
  if (!config.detectUnreachable) configure({ detectUnreachable: true });
  const env = process.env.CORRAL_SPAWN_SITES;
  if (sites && (env === undefined || env === '')) configure({ spawnSites: 'always' });
}

function onlyCertain(l: Leaks): boolean {
  return l.handles.length === 0 && l.abortListeners.length === 0 && l.tasks.every((t) => t.certain);
}

/**
 * Waits for what is closing, then returns what is left. Certain leaks end the wait early: they
 * cannot go away.
 * @internal
 */
export async function settle(c: Check): Promise<Found> {
  await turn();
  let found = collect(c);
  if (isEmpty(found.leaks)) return found;
  const { settle: budget, gc } = c.opts;
  const start = Date.now();
  let step = 1;
  let collected = false;
  for (;;) {
    if (gc && !collected) {
      // A turn first: WeakRefs read by collect() keep their targets alive until the turn ends.
      await turn();
      await collectUnreachable();
      collected = true;
      found = collect(c);
      if (isEmpty(found.leaks)) return found;
    }
    if (onlyCertain(found.leaks)) return found;
    const elapsed = Date.now() - start;
    if (elapsed >= budget) break;
    await pause(Math.min(step, budget - elapsed));
    step *= 2;
    found = collect(c);
    if (isEmpty(found.leaks)) return found;
  }
  if (gc) {
    // What became unreachable while we waited is certain too: say so.
    await turn();
    await collectUnreachable();
    found = collect(c);
  }
  return found;
}

/** The LeakError for what was found, marking it reported so no enclosing check reports it again. */
function leakError(found: Found, title: string): LeakError {
  markReported(found.leaks, found.entries, found.listenerSeqs);
  return new LeakError(formatLeaks(found.leaks, title), found.leaks);
}

/**
 * checkLeaks runs `fn` and resolves with its result once everything `fn` started has finished or
 * closed; it rejects with a {@link LeakError} naming what is left: tasks still alive (those that
 * can never finish marked certain), timers, sockets, servers, child processes and file handles
 * still open, abort listeners left on live signals. "Started by `fn`" follows `fn`'s async context
 * (an AsyncLocalStorage), so tests running concurrently and background work started elsewhere are
 * never blamed. When `fn` itself throws, its error is rethrown as it is, without waiting.
 *
 * @throws (as a rejection) LeakError; TypeError/RangeError for bad options; whatever `fn` throws.
 * @example
 * ```ts
 * test('a submission leaves nothing behind', () =>
 *   checkLeaks(async () => {
 *     await handleSubmission(fakeRequest());
 *   }));
 * ```
 */
export async function checkLeaks<T>(fn: () => T | PromiseLike<T>, options?: LeakOptions): Promise<Awaited<T>> {
  if (typeof fn !== 'function') throw new TypeError(`checkLeaks: fn must be a function (got ${typeof fn})`);
  const opts = resolveOptions(options, 'checkLeaks', isBaseline);
  enterTestMode(false);
  retainListeners();
  const window = windowNow();
  const scope = opts.scope === 'test' ? openScope(window) : undefined;
  try {
    const result = await (scope !== undefined ? runInScope(scope, fn) : fn());
    const found = await settle({ opts, window, scope });
    if (!isEmpty(found.leaks)) throw leakError(found, 'checkLeaks');
    return result;
  } finally {
    if (scope !== undefined) closeScope(scope);
    releaseListeners();
  }
}

// A key pairs a before() with its after() by identity: a primitive would pair unrelated tests.
function checkKey(key: unknown, hook: string): void {
  if (key !== undefined && (typeof key !== 'object' || key === null) && typeof key !== 'function') {
    throw new TypeError(`leakGuard: ${hook}(key) takes the test's context object (got ${describe(key)})`);
  }
}

/** What {@link leakGuard} returns: hooks for any runner's beforeEach and afterEach. */
export interface LeakGuard {
  /**
   * Opens a window: call it in beforeEach (or before/beforeAll for the whole-suite mode). `key`
   * pairs it with its `after(key)` when tests overlap: pass the test context node:test and Vitest
   * hand their hooks. Without a key, overlapping windows pair first in, first out.
   */
  before(key?: object): void;
  /** Settles, then rejects with a {@link LeakError} if something started since the matching `before()` is left. */
  after(key?: object): Promise<void>;
}

/**
 * leakGuard returns `{ before(), after() }` for a runner's beforeEach/afterEach (node:test, Vitest,
 * Jest, Mocha): `after()` rejects with a {@link LeakError} when something started since `before()`
 * is left, which fails the test. Hooks do not run in the test's async context, so the guard scopes
 * by time: what was created between the two calls, minus what tasks older than the window spawned.
 * Tests running concurrently in one process can see each other's leaks; wrap those in
 * {@link checkLeaks} instead. With `scope: 'all'` in before/after (all) hooks it is the
 * whole-suite gate for CI.
 *
 * @throws TypeError/RangeError for bad options, TypeError for a `key` that is not an object;
 *   `after()` rejects with LeakError, or with InvalidStateError when no `before()` is open.
 * @example
 * ```ts
 * import { afterEach, beforeEach } from 'node:test';
 * const guard = leakGuard({ ignore: { names: ['metrics-flush'] } });
 * beforeEach((t) => guard.before(t));
 * afterEach((t) => guard.after(t));
 * ```
 */
export function leakGuard(options?: LeakOptions): LeakGuard {
  const opts = resolveOptions(options, 'leakGuard', isBaseline);
  // Windows open now, in the order they opened. Tests that overlap (a runner's concurrency) are
  // checked together when the last of them ends, from when the first began: checking one while
  // another still runs would blame it for the other's timers and sockets.
  const open: { key: object | undefined; window: Window }[] = [];
  let groupStart: Window | undefined;
  let groupSize = 0;
  // Whether the open group notes which task creates each handle (ambient tracking on, scope 'test').
  let groupAttributes = false;
  return {
    before(key?: object): void {
      checkKey(key, 'before');
      enterTestMode(false);
      retainListeners();
      const window = windowNow();
      open.push({ key, window });
      if (groupStart === undefined) {
        groupStart = window;
        groupAttributes = opts.scope === 'test' && startHandleAttribution();
      }
      groupSize++;
    },
    async after(key?: object): Promise<void> {
      checkKey(key, 'after');
      let i = key === undefined ? 0 : open.findIndex((w) => w.key === key);
      if (i < 0) i = open.findIndex((w) => w.key === undefined);
      if (open[i] === undefined) throw new InvalidStateError('leakGuard: after() called without a matching before()');
      open.splice(i, 1);
      releaseListeners();
      if (open.length > 0) return;
      const start = groupStart as Window;
      const size = groupSize;
      const attributed = groupAttributes;
      groupStart = undefined;
      groupSize = 0;
      groupAttributes = false;
      let found: Found;
      try {
        found = await settle({ opts, window: start, scope: undefined });
      } finally {
        if (attributed) stopHandleAttribution();
      }
      if (isEmpty(found.leaks)) return;
      throw leakError(found, size === 1 ? 'leakGuard' : `leakGuard (checked when the last of ${size} overlapping tests ended)`);
    },
  };
}
