/**
 * Gathering what a check finds: the tasks, handles and abort listeners in its scope that are
 * still there, minus what its options ignore.
 * @module
 */
import { entryInfo, forEachEntry, type Entry } from '../registry.js';
import { leakDetail } from '../unreachable.js';
import type { HandleInfo } from '../inspect/handles.js';
import { leftListeners } from './abort-listeners.js';
import { matches, type ResolvedOptions } from './options.js';
import type { AbortListenerLeak, Leaks, TaskLeak } from './report.js';
import { isUserFrame } from './site.js';
import { handleReported, listenerReported, taskReported } from './reported.js';
import { handleOfBackground, taskInScope, taskInWindow, type Scope, type Window } from './scope.js';
import { handleTracker } from './tracker.js';

/** One check in progress. @internal */
export interface Check {
  readonly opts: ResolvedOptions;
  /** When the check began. */
  readonly window: Window;
  /** The async scope of a `checkLeaks` with scope 'test'. */
  readonly scope: Scope | undefined;
  /** Report every pending task as certain: the event loop is empty (exit reports). */
  readonly atExit?: boolean;
}

// The registry hides Node's internals and corral's frames; the public built-ins on the way (the
// AsyncLocalStorage.run that checkLeaks wraps the test in) and the test runner's own frames say as
// little about who spawned the task.
function userFrames(site: string | undefined): string | undefined {
  if (site === undefined) return undefined;
  const frames = site.split('\n');
  const mine = frames.filter(isUserFrame);
  return (mine.length > 0 ? mine : frames).join('\n');
}

/** @internal */
export function taskLeak(e: Entry, atExit: boolean): TaskLeak {
  const info = entryInfo(e);
  const detail = leakDetail(e);
  const owners: TaskLeak['owners'] = [];
  for (let o = e._owner; o !== undefined; o = o._owner) owners.push({ kind: o.kind, id: o.id, name: o._name });
  const leak: TaskLeak = {
    id: info.id,
    name: info.name,
    labels: info.labels,
    state: info.state,
    certain: detail !== undefined || atExit,
    startedAt: info.startedAt,
    since: info.since,
    spawnSite: userFrames(info.spawnSite),
    owners,
  };
  if (detail !== undefined) {
    leak.reason = 'unreachable';
    leak.lastState = detail.lastState;
    if (detail.lastOn !== '') leak.waitingOn = detail.lastOn;
  } else {
    if (atExit) leak.reason = 'stuck at exit';
    if (info.waitingOn !== undefined) leak.waitingOn = info.waitingOn;
  }
  return leak;
}

function ignoredTask(t: TaskLeak, opts: ResolvedOptions): boolean {
  const ig = opts.ignore;
  return (
    matches(ig.names, t.name, true) ||
    matches(ig.sites, t.spawnSite, false) ||
    matches(ig.states, t.state, true) ||
    matches(ig.states, t.lastState, true)
  );
}

// Test runners' own timers (node:test's per-test timeout, a hook's timeout in Jest or Vitest) are
// created while a test runs, by the runner's code alone: a handle with no frame of the user's code
// in its creation site is not the test's.
function attributable(h: HandleInfo): boolean {
  return h.site === undefined || h.site.split('\n').some(isUserFrame);
}

// stdout and stderr are opened lazily, by the first console.log that happens to run in a test.
function isStdio(h: HandleInfo): boolean {
  return h.type === 'TTYWRAP' || h.description.startsWith('stdio ');
}

function ignoredHandle(h: HandleInfo, opts: ResolvedOptions): boolean {
  for (const m of opts.ignore.handles) {
    if (typeof m === 'string') {
      if (h.type === m || h.description.includes(m)) return true;
    } else {
      m.lastIndex = 0;
      if (m.test(`${h.type} ${h.description}`)) return true;
    }
  }
  return matches(opts.ignore.sites, h.site, false);
}

function listenerInScope(s: Scope | undefined, scope: Scope): boolean {
  for (; s !== undefined; s = s.parent) if (s === scope) return true;
  return false;
}

/** What a check found, with what it takes to mark it reported. @internal */
export interface Found {
  leaks: Leaks;
  /** The entries of the tasks in `leaks`, by id. */
  entries: Map<number, Entry>;
  /** The sequence numbers of the listeners in `leaks`. */
  listenerSeqs: number[];
}

/** What check `c` finds now. @internal */
export function collect(c: Check): Found {
  const { opts } = c;
  // 'all' reports what was not alive at the reference point; 'test' what the test started, and
  // never what a baseline holds.
  const ref = opts.baseline !== undefined ? (opts.baseline as unknown as { window: Window }).window : c.window;
  const testScope = opts.scope === 'test' && c.atExit !== true;
  const tasks: TaskLeak[] = [];
  const entries = new Map<number, Entry>();
  forEachEntry((e) => {
    if (e.kind !== 'task' || e.id <= ref.taskId || taskReported(e)) return;
    if (testScope && !(c.scope !== undefined ? taskInScope(e, c.scope) : taskInWindow(e, c.window.taskId))) return;
    const t = taskLeak(e, c.atExit === true);
    if (ignoredTask(t, opts)) return;
    tasks.push(t);
    entries.set(e.id, e);
  });
  tasks.reverse(); // oldest first

  const handles: HandleInfo[] = [];
  if (opts.handles && c.atExit !== true) {
    const since = Math.max(ref.handleSeq, testScope ? c.window.handleSeq : 0);
    for (const h of handleTracker().live({ since })) {
      // A handle created in the scope's async context is the test's, whatever its frames (fetch
      // opens its sockets from Node's internals). Without a scope, a creation site with a frame of
      // the user's code is what tells it from the runner's own timers.
      const tagged = testScope && c.scope !== undefined && c.scope.handleIds.has(h.asyncId);
      // fs.promises makes a FileHandle in a libuv callback: no async context, no user frame. Time
      // is all that attributes it, which is sound for a window, and for a scope nothing overlapped.
      const contextless = h.type === 'FILEHANDLE' && !attributable(h);
      if (testScope && c.scope !== undefined && !tagged && !(contextless && !c.scope.overlapped)) continue;
      if (!h.keepsAlive && h.type !== 'FILEHANDLE' && !opts.unrefHandles) continue;
      if (!tagged && !contextless && !attributable(h)) continue;
      // A window's handle made by an older task's code is background work's, not the test's.
      if (testScope && c.scope === undefined && handleOfBackground(h.asyncId, c.window.taskId)) continue;
      if (isStdio(h) || handleReported(h.asyncId) || ignoredHandle(h, opts)) continue;
      handles.push(contextless ? { ...h, site: undefined } : h);
    }
  }

  const abortListeners: AbortListenerLeak[] = [];
  const listenerSeqs: number[] = [];
  if (opts.abortListeners && c.atExit !== true) {
    const since = Math.max(ref.listenerSeq, testScope ? c.window.listenerSeq : 0);
    for (const l of leftListeners()) {
      if (l.seq <= since || listenerReported(l.seq)) continue;
      if (testScope && c.scope !== undefined && !listenerInScope(l.scope, c.scope)) continue;
      if (testScope && c.scope === undefined && l.task !== undefined && !taskInWindow(l.task, c.window.taskId)) continue;
      if (matches(opts.ignore.sites, l.site, false)) continue;
      abortListeners.push({ site: l.site, addedAt: l.addedAt });
      listenerSeqs.push(l.seq);
    }
  }
  return { leaks: { tasks, handles, abortListeners }, entries, listenerSeqs };
}
