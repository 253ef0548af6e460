/**
 * What "started by the test" means, in two forms.
 *
 * A {@link Window} is a span of time: what was created after it opened (tasks by registry id,
 * handles by the tracker's sequence number, abort listeners by ours). It is all a runner's
 * beforeEach/afterEach pair can have, since hooks do not run in the test's async context. It
 * excludes tasks spawned by tasks that already existed (background work started earlier: seen
 * through the owner chain, and through the spawning task when ambient tracking is on), but tests
 * running at the same time in one process see each other's leaks.
 *
 * An async {@link Scope} is what `checkLeaks(fn)` adds on top: `fn` runs inside an
 * AsyncLocalStorage, so a task, handle or listener created anywhere in `fn`'s async call tree (in
 * its tasks, in callbacks of servers it created) carries the scope, and anything created by
 * concurrent tests or unrelated background work does not.
 *
 * Tasks are tagged through the registry's spawn observer, handles through an async_hooks `init`
 * hook that only notes asyncIds (the handle tracker in corral/inspect does the rest), on only while
 * a scope is open. The same hook notes which task created each handle while a guard's window is
 * open with ambient tracking on, so a window can leave out background work's handles.
 * @module
 */
import { AsyncLocalStorage, createHook, type AsyncHook } from 'node:async_hooks';
import { storage as ambient } from '../als.js';
import { lastEntryId, type Entry } from '../registry.js';
import { addSpawnObserver } from '../inspect/metrics-hooks.js';

/** The start of a window: the latest ids and sequence numbers when it opened. @internal */
export interface Window {
  readonly taskId: number;
  readonly handleSeq: number;
  readonly listenerSeq: number;
}

/** One `checkLeaks` call's async scope. @internal */
export class Scope {
  readonly parent: Scope | undefined;
  readonly window: Window;
  /** asyncIds of the handles created inside the scope (a nested scope's count for its parents too). */
  readonly handleIds = new Set<number>();
  /**
   * Whether another scope was open at some point while this one was. Until then, what carries no
   * async context at all (a FileHandle: fs.promises creates it in a libuv callback, outside any
   * context) can be attributed by time alone.
   */
  overlapped = false;
  constructor(parent: Scope | undefined, window: Window) {
    this.parent = parent;
    this.window = window;
  }
}

let storage: AsyncLocalStorage<Scope> | undefined;
// Keyed by entry, never holding it: a finished task's tag goes with it.
const taskScopes = new WeakMap<Entry, Scope>();
const openScopes = new Set<Scope>();

// The task whose code spawned each task, when ambient tracking knows it: a task spawned into a
// group by another task is owned by the group, not by its spawner, so the owner chain alone
// cannot tell background work (an older task spawning into its group) from the test's.
const spawners = new WeakMap<Entry, Entry>();

function tagTask(e: Entry): void {
  const s = storage?.getStore();
  if (s !== undefined) taskScopes.set(e, s);
  const spawner = ambientTask();
  if (spawner !== undefined && spawner !== e) spawners.set(e, spawner);
}

// One async_hooks init hook for both uses, on while a scope is open or a window attributes:
// each open scope notes the handles created inside it, and a window notes which task made each.
let hook: AsyncHook | undefined;
let attributing = 0;
// The task whose code created each handle, noted while a guard's window is open and ambient
// tracking is on: the window alone would blame the test for a timer that background work (an
// older task's poll loop) made during it. Entries are held only until the last window closes.
const handleTasks = new Map<number, Entry>();

function onInit(asyncId: number, type: string): void {
  // Promises are most of what this hook sees, and never a handle.
  if (type === 'PROMISE') return;
  for (let s = storage?.getStore(); s !== undefined; s = s.parent) s.handleIds.add(asyncId);
  if (attributing > 0) {
    const task = ambientTask();
    if (task !== undefined) handleTasks.set(asyncId, task);
  }
}

function hookOn(): void {
  (hook ??= createHook({ init: onInit })).enable();
}

function hookOffIfUnused(): void {
  if (openScopes.size === 0 && attributing === 0) hook?.disable();
}

let spawnHooked = false;
/**
 * Starts tagging spawned tasks with their scope and spawner, through the registry's shared spawn
 * slot (corral/inspect's metrics-hooks, which metrics and tracing use too). Idempotent.
 * @internal
 */
export function hookSpawns(): void {
  if (spawnHooked) return;
  spawnHooked = true;
  addSpawnObserver(tagTask);
}

/**
 * What a window needs tagged: the spawner of each task, known only with ambient tracking on. A
 * window without it adds no observer to the spawn path at all.
 * @internal
 */
export function hookSpawnsForWindow(): void {
  if (ambient !== undefined) hookSpawns();
}

/** The scope the caller runs in, if any. @internal */
export function currentScope(): Scope | undefined {
  return storage?.getStore();
}

/** Opens a scope under the current one; {@link closeScope} it when its check is over. @internal */
export function openScope(window: Window): Scope {
  hookSpawns();
  storage ??= new AsyncLocalStorage<Scope>();
  hookOn();
  const scope = new Scope(storage.getStore(), window);
  if (openScopes.size > 0) {
    scope.overlapped = true;
    for (const s of openScopes) s.overlapped = true;
  }
  openScopes.add(scope);
  return scope;
}

/** Runs `fn` inside `scope`. @internal */
export function runInScope<T>(scope: Scope, fn: () => T): T {
  return (storage as AsyncLocalStorage<Scope>).run(scope, fn);
}

/** @internal */
export function closeScope(scope: Scope): void {
  scope.handleIds.clear();
  openScopes.delete(scope);
  hookOffIfUnused();
}

/** Whether task `e` was spawned inside `scope` (or a scope nested in it). @internal */
export function taskInScope(e: Entry, scope: Scope): boolean {
  for (let s = taskScopes.get(e); s !== undefined; s = s.parent) if (s === scope) return true;
  return false;
}

/**
 * Whether `e`, created inside a window opened at `taskId`, belongs to it: not spawned (through
 * its owners) by a task that was already there, which is background work started earlier.
 * @internal
 */
export function taskInWindow(e: Entry, taskId: number): boolean {
  if (e.id <= taskId) return false;
  // Up through spawners where known, else owners; bounded, since ids only grow going up.
  for (let o: Entry | undefined = spawners.get(e) ?? e._owner; o !== undefined; o = spawners.get(o) ?? o._owner) {
    if (o.kind === 'task' && o.id <= taskId) return false;
  }
  return true;
}

/**
 * Starts noting which task creates each handle, for a window that opens now. Returns false (and
 * does nothing) without ambient tracking: then no task is known. Pair a true with
 * {@link stopHandleAttribution} once the window has been judged.
 * @internal
 */
export function startHandleAttribution(): boolean {
  if (ambient === undefined) return false;
  attributing++;
  hookOn();
  return true;
}

/** @internal */
export function stopHandleAttribution(): void {
  if (attributing === 0 || --attributing > 0) return;
  handleTasks.clear();
  hookOffIfUnused();
}

/**
 * Whether handle `asyncId` was created by background work: by a task that is not the window's
 * (older than it, or spawned by one that is), as far as ambient tracking saw.
 * @internal
 */
export function handleOfBackground(asyncId: number, taskId: number): boolean {
  const task = handleTasks.get(asyncId);
  return task !== undefined && !taskInWindow(task, taskId);
}

/** The task running now, when ambient tracking is on. @internal */
export function ambientTask(): Entry | undefined {
  return ambient?.getStore() as Entry | undefined;
}

/** The latest registry id now. @internal */
export function currentTaskId(): number {
  return lastEntryId();
}
