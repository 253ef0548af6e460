/**
 * The registry: the runtime's view of every live task and group, like the goroutine list that
 * pprof reads. Entries sit in an intrusive doubly linked list (O(1) to add and remove, nothing
 * allocated per entry beyond the entry itself). The registry holds entries strongly and nothing
 * else: never a task's promise, never what it awaits, never a closure over a task's internals, so
 * a task whose pending promise becomes unreachable can still be collected and detected.
 * @module
 */
import { fileURLToPath } from 'node:url';
import { config } from './config.js';

/** Labels attached to a task or group: shown in dumps, so never put patient data in them. */
export type Labels = Readonly<Record<string, string>>;

/**
 * The state of a task: 'queued' and 'running', 'waiting: WHAT' while blocked in a corral primitive, then final.
 * 'leaked (unreachable)' is final too: V8 collected the task's pending promise, so it can never finish (unreachable.ts).
 */
export type TaskState = 'running' | `waiting: ${string}` | 'succeeded' | 'failed' | 'canceled' | 'leaked (unreachable)';

// Milliseconds are stored relative to this origin so they stay small integers (no heap number).
const ORIGIN = Date.now();

// A coarse clock: Date.now() costs ~50 ns, a sixth of a raw promise's whole budget, and a loop
// spawning 100,000 tasks would read it 100,000 times. A reading is reused until the end of the
// current macrotask turn (one unref'd setImmediate per turn that reads the clock at all), so a
// timestamp is late by at most the work done in that turn; dumps show ages in milliseconds and up,
// where that rarely shows. Expiring per microtask instead cost a queueMicrotask per channel
// hand-off, more than the Date.now() it saved.
let cachedNow = 0;
let fresh = false;
function expire(): void {
  fresh = false;
}
/** @internal */
export function now(): number {
  // The rare path stays out of line: a now() small enough to inline keeps the callers inlinable
  // too (measured: a ctx-passing channel hand-off ~40% faster than with one function).
  return fresh ? cachedNow : readClock();
}
function readClock(): number {
  fresh = true;
  setImmediate(expire).unref();
  return (cachedNow = Date.now() - ORIGIN);
}

/** A captured spawn site: the object V8 fills on `captureStackTrace`, formatted only when read. */
interface SiteHolder {
  stack?: string;
  /** formatSite's result, kept once computed. */
  site?: string;
}

let nextId = 1;
let spawnCount = 0;

/** The id of the latest entry created: entries created later have larger ids (leak checks' windows). @internal */
export function lastEntryId(): number {
  return nextId - 1;
}

/**
 * An entry in the registry: a task or a group. Subclasses own the behaviour; this holds the
 * bookkeeping. Fields are read by dumps and written by the owner only.
 * @internal
 */
export abstract class Entry {
  /** Process-unique id, increasing with creation. */
  readonly id: number;
  _name: string;
  _labels: Labels | undefined;
  _state: string;
  /** When the entry entered `_state` (ms since ORIGIN). */
  _since: number;
  _startedAt: number;
  _site: SiteHolder | undefined = undefined;
  /** The entry this one belongs to: a task's group, a group's parent task. */
  _owner: Entry | undefined;
  _rprev: Entry | null = null;
  _rnext: Entry | null = null;
  /** Bit flags; bits 0 (LIVE) and 7 (FINAL) and the wait depth above them are the registry's, bits 1–6 the subclass's. */
  _flags = 0;
  /**
   * What a wait names (a channel's name, '' for none), valid only while `_state` is still
   * `_onState`: waits that name nothing (sleep, semaphore) leave both alone, so when one of them
   * ends and hands back an outer channel wait's state, that wait's name shows again.
   */
  _on = '';
  _onState: string | undefined = undefined;

  constructor(name: string, labels: Labels | undefined, owner: Entry | undefined, state: string) {
    this.id = nextId++;
    this._name = name;
    this._labels = labels;
    this._owner = owner;
    this._state = state;
    this._startedAt = this._since = now();
  }

  abstract get kind(): 'task' | 'group';
}

/** Captures the caller's spawn site according to the configured level. `from` is the public API function to hide. @internal */
export function captureSite(entry: Entry, from: (...args: any[]) => unknown): void {
  const level = config.spawnSites;
  if (level === 'off') return;
  if (level === 'sampled' && ++spawnCount % config.sampleEvery !== 0) return;
  const holder: SiteHolder = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = config.stackDepth;
  Error.captureStackTrace(holder, from);
  Error.stackTraceLimit = limit;
  entry._site = holder;
}

// Frames from corral's own modules and from Node's internals say nothing about who spawned a
// task; a spawn site shows the user's frames only (all frames if that would leave none).
// Compiled code lives in dist/, and with source maps on its frames name src/: both are ours.
const ROOT = new URL('..', import.meta.url);
const OWN = ['src/', 'dist/'].flatMap((d) => {
  const url = new URL(d, ROOT);
  return [url.href, fileURLToPath(url)];
});
function isNoise(frame: string): boolean {
  return frame.includes('node:internal') || OWN.some((p) => frame.includes(p));
}

// A dump reads the site of every live task, and most tasks of one spawn site have the same stack
// text: each distinct text is formatted once (this map, bounded: cleared when full, which only
// costs re-formatting), and the result is kept on the holder, so a task is formatted once however
// many dumps read it. The holder's own copy of the text is swapped for the map's equal one, so
// 100,000 tasks spawned at one line keep one stack string between them, not 100,000.
const formatted = new Map<string, { stack: string; site: string }>();
const FORMATTED_MAX = 1024;

/** The formatted spawn site of an entry ("at fn (file:line:col)" lines), or undefined. @internal */
export function formatSite(entry: Entry): string | undefined {
  const holder = entry._site;
  if (holder === undefined) return undefined;
  if (holder.site !== undefined) return holder.site;
  const stack = holder.stack;
  if (stack === undefined) return undefined;
  let f = formatted.get(stack);
  if (f === undefined) {
    if (formatted.size >= FORMATTED_MAX) formatted.clear();
    f = { stack, site: formatStack(stack) };
    formatted.set(stack, f);
  } else {
    holder.stack = f.stack;
  }
  holder.site = f.site;
  return f.site;
}

function formatStack(stack: string): string {
  // The first line is the "Error" header V8 writes for a plain object.
  const frames = stack
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const mine = frames.filter((f) => !isNoise(f));
  return (mine.length > 0 ? mine : frames).join('\n');
}

// --- the live list ------------------------------------------------------------------------------

const LIVE = 1;
/** Bit 7 of `_flags`, set by the owner: the entry's state is final, and no wait ending later changes it. @internal */
export const FINAL = 128;
let head: Entry | null = null;
let liveTasks = 0;
let liveGroups = 0;

/**
 * Running totals since the process started, for metrics. Plain numbers bumped on the paths that
 * already touch the entry, so keeping them costs an add.
 * @internal
 */
export const totals = {
  spawned: 0,
  succeeded: 0,
  failed: 0,
  canceled: 0,
};

/**
 * Observers of task ends, installed by diagnostics that need them (a duration histogram); while
 * none is installed a finishing task pays one property read.
 * @internal
 */
export const observers: {
  finish: ((task: Entry, outcome: 'succeeded' | 'failed' | 'canceled') => void) | undefined;
  /** Called when a task is spawned (registered), before its function runs. */
  spawn: ((task: Entry) => void) | undefined;
} = {
  finish: undefined,
  spawn: undefined,
};

/** @internal */
export function register(e: Entry): void {
  if ((e._flags & LIVE) !== 0) return;
  e._flags |= LIVE;
  e._rnext = head;
  if (head !== null) head._rprev = e;
  head = e;
  if (e.kind === 'task') {
    liveTasks++;
    totals.spawned++;
    if (observers.spawn !== undefined) observers.spawn(e);
  } else liveGroups++;
}

/** @internal */
export function unregister(e: Entry): void {
  if ((e._flags & LIVE) === 0) return;
  e._flags &= ~LIVE;
  const p = e._rprev;
  const n = e._rnext;
  if (p === null) head = n;
  else p._rnext = n;
  if (n !== null) n._rprev = p;
  e._rprev = e._rnext = null;
  if (e.kind === 'task') liveTasks--;
  else liveGroups--;
}

/** Visits every live entry, newest first. @internal */
export function forEachEntry(fn: (e: Entry) => void): void {
  for (let e = head; e !== null; e = e._rnext) fn(e);
}

/** Epoch milliseconds of a registry timestamp (`_since`, `_startedAt`). @internal */
export function epochOf(ms: number): number {
  return ms + ORIGIN;
}

/** How many tasks and groups are live right now. O(1). */
export function liveCounts(): { tasks: number; groups: number } {
  return { tasks: liveTasks, groups: liveGroups };
}

// --- what a blocked task waits on ---------------------------------------------------------------

const stateNames = new Map<string, string>();
/** Interns "waiting: WHAT" so a state change allocates no string. @internal */
export function waitingState(what: string): string {
  let s = stateNames.get(what);
  if (s === undefined) {
    s = `waiting: ${what}`;
    stateNames.set(what, s);
  }
  return s;
}

// How many corral waits a task is inside, kept in the upper bits of `_flags` (no extra field).
const WAIT_SHIFT = 8;
const WAIT_UNIT = 1 << WAIT_SHIFT;

/**
 * Marks `entry` as blocked in `state` (a 'waiting: WHAT' string from {@link waitingState},
 * interned once by the caller) and returns what to hand back to {@link leaveWait}. A task can be
 * inside several waits at once (Promise.all over a sleep and a semaphore): the state shows the
 * latest one still in progress, and 'running' once none is. `on` names what it waits on (a
 * channel's name, '' for none) for dumps; a caller that passes it reads {@link waitingOn} first
 * and hands that back to leaveWait.
 * @internal
 */
export function enterWait(entry: Entry | undefined, state: string, on?: string): string | undefined {
  if (entry === undefined) return undefined;
  const prev = entry._state;
  entry._flags += WAIT_UNIT;
  entry._state = state;
  if (on !== undefined) {
    entry._on = on;
    entry._onState = state;
  }
  entry._since = now();
  return prev;
}

/** What `entry`'s current state names ('' for nothing). @internal */
export function waitingOn(entry: Entry): string {
  return entry._onState === entry._state ? entry._on : '';
}

/**
 * Ends a wait begun by {@link enterWait}, which returned `prev`. `state` is the wait's own state,
 * when the caller knows it; `prevOn` is {@link waitingOn} read before enterWait, if it passed `on`.
 * @internal
 */
export function leaveWait(entry: Entry | undefined, prev: string | undefined, state?: string, prevOn?: string): void {
  if (entry === undefined || prev === undefined) return;
  entry._flags -= WAIT_UNIT;
  // A finished task keeps its final state, even if one of its waits ends after it.
  if ((entry._flags & FINAL) !== 0) return;
  if (entry._flags >>> WAIT_SHIFT === 0) {
    entry._state = 'running';
    entry._on = '';
    entry._onState = undefined;
    entry._since = now();
  } else if (prev.startsWith('waiting: ') && (state === undefined || entry._state === state)) {
    // Still inside an earlier wait. Hand the state back to it only if ours is the one showing;
    // if a later wait set the state, that wait is still in progress and keeps it.
    entry._state = prev;
    if (prevOn !== undefined) {
      entry._on = prevOn;
      entry._onState = prev;
    }
    entry._since = now();
  }
}

// --- snapshots ----------------------------------------------------------------------------------

/** One task or group as plain data. Never holds arguments or results. */
export interface EntryInfo {
  id: number;
  kind: 'task' | 'group';
  name: string;
  labels: Record<string, string>;
  state: string;
  /**
   * What a waiting task waits on, when that has a name: the channel's name for 'waiting: chan
   * receive' / 'chan send', the names of the named channels for 'waiting: select'.
   */
  waitingOn?: string;
  /** Epoch milliseconds when the entry entered its current state. */
  since: number;
  /** Epoch milliseconds when the entry was created. */
  startedAt: number;
  /** The id of the owning entry: a task's group, a group's parent task. */
  parentId: number | undefined;
  /** The spawn site as "at ..." lines, or undefined when not captured. */
  spawnSite: string | undefined;
}

/** What {@link snapshot} returns. */
export interface Snapshot {
  /** Epoch milliseconds when the snapshot was taken. */
  takenAt: number;
  tasks: EntryInfo[];
  groups: EntryInfo[];
}

/** @internal */
export function entryInfo(e: Entry): EntryInfo {
  const info: EntryInfo = {
    id: e.id,
    kind: e.kind,
    name: e._name,
    labels: e._labels === undefined ? {} : { ...e._labels },
    state: e._state,
    since: e._since + ORIGIN,
    startedAt: e._startedAt + ORIGIN,
    parentId: e._owner?.id,
    spawnSite: formatSite(e),
  };
  const on = waitingOn(e);
  if (on !== '') info.waitingOn = on;
  return info;
}

/**
 * snapshot returns every live task and group as plain data (oldest first): names, labels,
 * states, timestamps and spawn sites, never task arguments or results.
 *
 * @example
 * ```ts
 * const { tasks } = snapshot();
 * const stuck = tasks.filter((t) => t.state.startsWith('waiting') && Date.now() - t.since > 60_000);
 * ```
 */
export function snapshot(): Snapshot {
  const tasks: EntryInfo[] = [];
  const groups: EntryInfo[] = [];
  for (let e = head; e !== null; e = e._rnext) (e.kind === 'task' ? tasks : groups).push(entryInfo(e));
  tasks.reverse();
  groups.reverse();
  return { takenAt: Date.now(), tasks, groups };
}

/** Formats a duration like Go's dumps: "850ms", "12s", "5m12s", "3h4m". @internal */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

