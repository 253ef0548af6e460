/**
 * Tasks that can never finish. A task whose pending promise became unreachable (it awaits a
 * promise whose resolvers were dropped, a receive on a channel nobody else holds, an event on an
 * emitter nobody can reach) is collected by V8 like any garbage: its `finally` blocks never run, and
 * nothing in the process can ever settle it. That is certain, not a guess, and V8 says so: while
 * detection is on, the promise a task's function returned (the one its group observes) is
 * registered with a FinalizationRegistry whose held value is the task's registry entry. The entry
 * never references that promise (registry.ts keeps it so), so the promise can be collected while
 * the entry is listed; when it is and the task is still pending, the task is marked
 * 'leaked (unreachable)', keeps the state it was last in for reports, and is counted by spawn site.
 *
 * What stays reachable is never reported, even if it will in fact never happen: a resolver kept in
 * a module variable, a live timer, a channel someone else holds, a long-lived AbortController. A
 * wait given a context is reachable through that context (its node hangs in the context's child
 * list, and a task's context hangs off its entry), which is right: the context can still cancel it.
 * So `await ch.recv()` on a channel nobody else holds is detected, `await ch.recv(ctx)` is not (it
 * ends when `ctx` does).
 *
 * Cost while detection is on: an array push per spawned async task, and a FinalizationRegistry
 * cell (registered at the end of the turn, unregistered at the task's end) for each task still
 * running when the macrotask turn it was spawned in ends; see docs/testing.md for the figures.
 * While it is off: one property read per spawn.
 * Detection is a mode: on by default when `NODE_ENV=test` (and when `corral/testing` is imported),
 * opt-in elsewhere with `configure({ detectUnreachable: true })` or `CORRAL_DETECT_UNREACHABLE=1`.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - A WeakRef per task, polled: an allocation per spawn on top of the cell, and polling needs a
 *   timer; the registry's callback comes for free after a GC.
 * - Finishing a leaked task (rejecting it so its group's wait() returns): its function never
 *   returned, and pretending it did hides the bug; a group waiting on it is stuck, as in Go.
 * - Dropping a leaked task from the live list: dumps and leak checks would lose the one task
 *   that needs looking at. It stays listed; its entry costs what it cost before it leaked.
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FINAL, formatSite, now, waitingOn, type Entry } from './registry.js';
import type { Task } from './task.js';
import { describe } from './validate.js';

/** The state of a task whose promise V8 collected while it was pending: it can never finish. */
export const LEAKED = 'leaked (unreachable)';

/** What a leaked task was doing when it became unreachable. */
export interface LeakDetail {
  /** The state the task was in: 'running', 'waiting: chan receive', … */
  lastState: string;
  /** What that state named (a channel's name), '' for nothing. */
  lastOn: string;
  /** Epoch milliseconds when the collection was noticed (an upper bound on when it became unreachable). */
  noticedAt: number;
}

/** Leaked tasks of one spawn site (or, without a captured site, of one name). */
export interface LeakedSite {
  /** The formatted spawn site, or undefined when it was not captured. */
  site: string | undefined;
  /** The name of the first task counted here. */
  name: string;
  /** Tasks of this site found unreachable since the process started. */
  count: number;
  /** The state the latest of them was in. */
  lastState: string;
}

const details = new WeakMap<Entry, LeakDetail>();
const bySite = new Map<string, LeakedSite>();
let leakedTotal = 0;
/** Finalizer callbacks seen, leaked or not: lets a forced collection tell when they stopped coming. */
let callbacks = 0;

let cells: FinalizationRegistry<Entry> | undefined;

/**
 * Bit 5 of a task's `_flags`: its promise is registered in `cells`. (Bits 1–4 are task.ts's,
 * 0 and 7 the registry's.)
 * @internal
 */
export const F_WATCHED = 32;

// Tasks spawned in the current macrotask turn, each followed by its promise, waiting to be
// watched. A task that finishes within the turn it was spawned in (most do) can never have leaked,
// and is never registered: registering every task and unregistering it at its end cost ~1.8 µs a
// task, 2.7x a whole spawn (bench figures in docs/testing.md). The array holds the promises for
// one turn at most; a long run of microtasks with no turn (a loop awaiting group after group)
// compacts it instead, dropping finished tasks, so it stays within twice the tasks in flight.
let fresh: unknown[] = [];
const COMPACT_AT = 32_768;
let compactAt = COMPACT_AT;
let flushQueued = false;

/**
 * Watches `p`, the promise `t`'s function returned: if `t` is still pending when the turn ends,
 * `p` is registered, and if V8 then collects it while `t` is pending, `t` is marked leaked. Called
 * by the spawn path only while detection is on.
 * @internal
 */
export function watchTask(t: Task<any>, p: PromiseLike<unknown>): void {
  fresh.push(t, p);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flushFresh).unref();
  } else if (fresh.length >= compactAt) compactFresh();
}

function flushFresh(): void {
  flushQueued = false;
  const list = fresh;
  fresh = [];
  compactAt = COMPACT_AT;
  for (let i = 0; i < list.length; i += 2) {
    const t = list[i] as Task<any>;
    if (t._outcome !== 0) continue;
    (cells ??= new FinalizationRegistry(collected)).register(list[i + 1] as object, t, t);
    t._flags |= F_WATCHED;
  }
}

function compactFresh(): void {
  let j = 0;
  for (let i = 0; i < fresh.length; i += 2) {
    if ((fresh[i] as Task<any>)._outcome !== 0) continue;
    fresh[j++] = fresh[i];
    fresh[j++] = fresh[i + 1];
  }
  fresh.length = j;
  compactAt = Math.max(COMPACT_AT, 2 * j);
}

/** Registers now what waits for the end of the turn: before a forced collection. @internal */
export function flushWatch(): void {
  if (fresh.length > 0) flushFresh();
}

/**
 * Drops a finished task's cell. Without this, a cell whose promise V8 collected keeps its task until
 * the registry's cleanup job runs, and that job runs only between macrotasks: code that finishes
 * tasks in a long run of microtasks (a loop awaiting group after group) retained every one of them
 * (~400 bytes a task, measured) until the next turn. Unregistering costs a lookup per finish.
 * @internal
 */
export function unwatchTask(t: Task<any>): void {
  t._flags &= ~F_WATCHED;
  cells?.unregister(t);
}

function collected(e: Entry): void {
  callbacks++;
  const t = e as Task<any>;
  if (t._outcome !== 0) return;
  // The promise is gone, so nothing can settle the task: its state is final from now on.
  const detail: LeakDetail = { lastState: e._state, lastOn: waitingOn(e), noticedAt: Date.now() };
  details.set(e, detail);
  e._state = LEAKED;
  e._on = '';
  e._onState = undefined;
  e._since = now();
  e._flags |= FINAL;
  leakedTotal++;
  const site = formatSite(e);
  const key = site ?? `\u0000${e._name}`;
  const s = bySite.get(key);
  if (s === undefined) bySite.set(key, { site, name: e._name, count: 1, lastState: detail.lastState });
  else {
    s.count++;
    s.lastState = detail.lastState;
  }
}

/** Whether `e` was found unreachable. @internal */
export function isLeaked(e: Entry): boolean {
  return details.has(e);
}

/** What a leaked task was doing when it became unreachable, or undefined for one that is not leaked. @internal */
export function leakDetail(e: Entry): LeakDetail | undefined {
  return details.get(e);
}

/**
 * leakedBySite returns the tasks found unreachable since the process started, counted by spawn
 * site (by name when no site was captured), the largest count first. A production watchdog reports
 * these; they never go down, since a leaked task can never finish.
 *
 * @example
 * ```ts
 * for (const s of leakedBySite()) log.warn({ site: s.site, count: s.count }, `leaked tasks "${s.name}"`);
 * ```
 */
export function leakedBySite(): LeakedSite[] {
  return [...bySite.values()].map((s) => ({ ...s })).sort((a, b) => b.count - a.count);
}

/** How many tasks were found unreachable since the process started. */
export function leakedCount(): number {
  return leakedTotal;
}

let gcFn: (() => void) | undefined;

/**
 * Runs a full, synchronous garbage collection, with or without `--expose-gc`: V8 reads the flag
 * when it creates a context, so setting it at run time and making a fresh vm context yields that
 * context's `gc()`, which collects the whole isolate. The flag is set back at once, so contexts
 * made later (a test runner's) get no `gc` global. Node documents setting V8 flags after start as
 * unsupported in general; this one flag is widely used this way and has worked on every Node
 * from 14 to 24.
 * @internal
 */
export function forceGc(): void {
  if (gcFn === undefined) {
    const own = (globalThis as { gc?: unknown }).gc;
    if (typeof own === 'function') gcFn = own as () => void;
    else {
      setFlagsFromString('--expose-gc');
      try {
        gcFn = runInNewContext('gc') as () => void;
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    }
  }
  gcFn();
}

/**
 * collectUnreachable forces garbage collections until the finalizer callbacks stop coming (at
 * least two rounds, at most `maxRounds`), so every task that is unreachable now is marked leaked
 * when it resolves. It needs detection to have been on when the tasks were spawned. It costs a few
 * full GCs (milliseconds to tens of milliseconds, growing with the heap): for tests, the CLI and
 * exit reports, not for a request path.
 *
 * @throws (as a rejection) RangeError when `maxRounds` is not an integer >= 2.
 * @example
 * ```ts
 * await collectUnreachable();
 * const stuck = snapshot().tasks.filter((t) => t.state === 'leaked (unreachable)');
 * ```
 */
export async function collectUnreachable(maxRounds = 6): Promise<void> {
  if (!Number.isInteger(maxRounds) || maxRounds < 2) {
    throw new RangeError(`collectUnreachable: maxRounds must be an integer >= 2 (got ${describe(maxRounds)})`);
  }
  flushWatch();
  // An object freed by one GC can be what kept another alive (a once() listener's emitter): the
  // second falls only in a later GC, so one round is not always enough.
  for (let i = 0; i < maxRounds; i++) {
    const seen = callbacks;
    forceGc();
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (i >= 1 && callbacks === seen) return;
  }
}
