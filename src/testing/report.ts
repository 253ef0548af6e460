/**
 * What a leak check found, as data and as the grouped text a LeakError carries: like a goroutine
 * dump, identical leaks (same name, state, spawn site and owners) are one entry with a count.
 * Never task arguments or results: names, labels, states, ages and sites only.
 * @module
 */
import { formatAge } from '../registry.js';
import { formatHandles, type HandleInfo } from '../inspect/handles.js';

/** One task left behind. */
export interface TaskLeak {
  id: number;
  name: string;
  labels: Record<string, string>;
  /** Its state now: 'running', 'waiting: …', or 'leaked (unreachable)'. */
  state: string;
  /** For a leaked task, the state it was in when it became unreachable. */
  lastState?: string;
  /** What the (last) state waits on, when that has a name (a channel's). */
  waitingOn?: string;
  /**
   * Whether it can certainly never finish: V8 collected its pending promise ('unreachable'), or the
   * process's event loop is empty and it is still pending ('stuck at exit'). Otherwise it is alive
   * and might still finish, only not within the settle time.
   */
  certain: boolean;
  /** Why it is certain, when it is. */
  reason?: 'unreachable' | 'stuck at exit';
  /** Epoch milliseconds when it was spawned. */
  startedAt: number;
  /** Epoch milliseconds when it entered its current state. */
  since: number;
  /** Where it was spawned ("at ..." lines), or undefined when not captured. */
  spawnSite: string | undefined;
  /** Its owners, nearest first: its group, the task that made that group, that task's group, … */
  owners: { kind: 'task' | 'group'; id: number; name: string }[];
}

/** An abort listener added to a signal that is still alive, not aborted, and still has it. */
export interface AbortListenerLeak {
  /** Where `addEventListener('abort', …)` was called ("at ..." lines), or undefined. */
  site: string | undefined;
  /** Epoch milliseconds when it was added. */
  addedAt: number;
}

/** Everything a leak check found; what `LeakError.leaks` holds. */
export interface Leaks {
  tasks: TaskLeak[];
  /** Open handles, as `corral/inspect`'s `trackHandles()` describes them. */
  handles: HandleInfo[];
  abortListeners: AbortListenerLeak[];
}

/** Whether nothing was found. @internal */
export function isEmpty(l: Leaks): boolean {
  return l.tasks.length === 0 && l.handles.length === 0 && l.abortListeners.length === 0;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function ownerChain(t: TaskLeak): string {
  return t.owners.map((o) => `${o.kind} ${JSON.stringify(o.name)}`).join(' <- ');
}

function taskHead(t: TaskLeak): string {
  const on = t.waitingOn === undefined ? '' : ` on ${JSON.stringify(t.waitingOn)}`;
  if (t.reason === 'unreachable') {
    return `${t.state}: CERTAIN, it can never finish; it was ${t.lastState ?? 'running'}${on}`;
  }
  if (t.reason === 'stuck at exit') return `${t.state}${on}: CERTAIN, still pending with the event loop empty`;
  return `${t.state}${on}`;
}

/**
 * Renders leaks as the grouped report: a header with the counts, then one entry per kind of leak,
 * the largest first, each with its count, state, oldest age, site and owner chain.
 * @internal
 */
export function formatLeaks(l: Leaks, title: string, at = Date.now()): string {
  const certain = l.tasks.filter((t) => t.certain).length;
  const parts: string[] = [];
  if (l.tasks.length > 0) parts.push(`${plural(l.tasks.length, 'task')}${certain > 0 ? ` (${certain} certain)` : ''}`);
  if (l.handles.length > 0) parts.push(plural(l.handles.length, 'handle'));
  if (l.abortListeners.length > 0) parts.push(plural(l.abortListeners.length, 'abort listener'));
  const lines = [`${title}: ${parts.join(', ')} left behind`];

  interface Bucket {
    t: TaskLeak;
    count: number;
    oldest: number;
  }
  const buckets = new Map<string, Bucket>();
  for (const t of l.tasks) {
    const key = [t.name, t.state, t.lastState ?? '', t.waitingOn ?? '', t.reason ?? '', t.spawnSite ?? '', ownerChain(t)].join('\u0000');
    const b = buckets.get(key);
    if (b === undefined) buckets.set(key, { t, count: 1, oldest: t.startedAt });
    else {
      b.count++;
      if (t.startedAt < b.oldest) b.oldest = t.startedAt;
    }
  }
  // Certain leaks first: they are the ones with no excuse.
  const sorted = [...buckets.values()].sort(
    (a, b) => Number(b.t.certain) - Number(a.t.certain) || b.count - a.count || a.oldest - b.oldest,
  );
  for (const { t, count, oldest } of sorted) {
    lines.push('');
    lines.push(`${plural(count, 'task')} ${JSON.stringify(t.name)} [${taskHead(t)}, oldest ${formatAge(at - oldest)}]`);
    if (t.spawnSite === undefined) lines.push('    (spawn site not captured; configure({ spawnSites: "always" }))');
    else for (const f of t.spawnSite.split('\n')) lines.push(`    ${f}`);
    if (t.owners.length > 0) lines.push(`    owned by ${ownerChain(t)}`);
  }

  if (l.handles.length > 0) {
    lines.push('');
    lines.push(formatHandles(l.handles, at).trimEnd());
  }

  const listeners = new Map<string, { count: number; oldest: number; site: string | undefined }>();
  for (const a of l.abortListeners) {
    const key = a.site ?? '';
    const b = listeners.get(key);
    if (b === undefined) listeners.set(key, { count: 1, oldest: a.addedAt, site: a.site });
    else {
      b.count++;
      if (a.addedAt < b.oldest) b.oldest = a.addedAt;
    }
  }
  for (const b of [...listeners.values()].sort((x, y) => y.count - x.count)) {
    lines.push('');
    lines.push(`${plural(b.count, 'abort listener')} still on a live AbortSignal [never removed, oldest ${formatAge(at - b.oldest)}]`);
    if (b.site === undefined) lines.push('    (site not captured)');
    else for (const f of b.site.split('\n')) lines.push(`    ${f}`);
  }
  return lines.join('\n') + '\n';
}
