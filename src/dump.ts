/**
 * The grouped dump: live tasks bucketed by spawn site, name, state and what they wait on, like
 * pprof's goroutine profile. The core's `dumpTasks()` and corral/inspect's grouped, JSON and
 * `groupTasks()` views are all built on these buckets, so they cannot disagree on what a group is.
 *
 * A leaked task (found unreachable) is bucketed by the state it was last in too: the dump says
 * what it was doing when it became impossible to finish.
 * @module
 */
import { forEachEntry, formatAge, formatSite, liveCounts, now, waitingOn, type Entry } from './registry.js';
import { LEAKED, leakDetail } from './unreachable.js';

/** One group of tasks. @internal */
export interface TaskBucket {
  name: string;
  state: string;
  on: string;
  /** For a leaked bucket: the state its tasks were in (with what they waited on), else ''. */
  was: string;
  site: string | undefined;
  count: number;
  /** Registry ms: the earliest `_since`. */
  oldest: number;
  /** The oldest ids: newest first while adding, oldest first once sorted. */
  ids: number[];
}

const MAX_IDS = 10;

/** Tasks bucketed by spawn site, name, state and what they wait on. @internal */
export class TaskBuckets {
  // site -> name -> state (+ "\0" + what it waits on, when named) -> bucket. Sites and states are
  // interned strings (formatSite shares one string per distinct stack), so each lookup hashes a
  // string whose hash V8 has cached already.
  private readonly _bySite = new Map<string | undefined, Map<string, Map<string, TaskBucket>>>();
  private readonly _all: TaskBucket[] = [];

  /** Adds a task; tasks come newest first (the registry's order). */
  add(e: Entry): void {
    const site = formatSite(e);
    let byName = this._bySite.get(site);
    if (byName === undefined) this._bySite.set(site, (byName = new Map()));
    let byState = byName.get(e._name);
    if (byState === undefined) byName.set(e._name, (byState = new Map()));
    const on = waitingOn(e);
    const was = wasDoing(e);
    const key = on === '' && was === '' ? e._state : `${e._state}\u0000${on}\u0000${was}`;
    let b = byState.get(key);
    if (b === undefined) {
      b = { name: e._name, state: e._state, on, was, site, count: 0, oldest: e._since, ids: [] };
      byState.set(key, b);
      this._all.push(b);
    }
    b.count++;
    if (e._since < b.oldest) b.oldest = e._since;
    // Newest first: the last ten seen are the oldest ten.
    b.ids.push(e.id);
    if (b.ids.length > MAX_IDS) b.ids.shift();
  }

  /** The buckets, largest first. Call once. */
  sorted(): TaskBucket[] {
    const all = this._all;
    for (const b of all) b.ids.reverse();
    // Ties: the oldest first, then the lowest id, so the order does not depend on spawn timing.
    all.sort((a, b) => b.count - a.count || a.oldest - b.oldest || (a.ids[0] as number) - (b.ids[0] as number));
    return all;
  }
}

/**
 * dumpTasks returns a readable dump of the live tasks grouped by spawn site, state and name, the
 * largest group first, each with its count and oldest age, like pprof's goroutine profile:
 *
 * ```text
 * corral: 3 tasks in 1 group
 *
 * 2 tasks "his-sync" [waiting: sleep, oldest 5m12s]
 *     at syncLoop (file:///srv/app/sync.js:12:5)
 *
 * 1 task "validate" [leaked (unreachable), was waiting: chan receive on "terminology-results", oldest 5m]
 *     at validate (file:///srv/app/validate.js:40:9)
 * ```
 *
 * A task blocked on a named channel shows the name (`on "..."`); a select shows the names of its
 * named channels; a task found unreachable shows what it was doing (`was ...`).
 * corral/inspect's `dump()` adds filters, limits, redaction and other formats.
 */
export function dumpTasks(): string {
  const at = now();
  const b = new TaskBuckets();
  let tasks = 0;
  forEachEntry((e) => {
    if (e.kind !== 'task') return;
    tasks++;
    b.add(e);
  });
  const groups = liveCounts().groups;
  const lines = [`corral: ${tasks} task${tasks === 1 ? '' : 's'} in ${groups} group${groups === 1 ? '' : 's'}`];
  for (const g of b.sorted()) {
    lines.push('');
    lines.push(`${g.count} task${g.count === 1 ? '' : 's'} "${g.name}" [${stateLine(g.state, g.on, g.was)}, oldest ${formatAge(at - g.oldest)}]`);
    if (g.site === undefined) lines.push('    (spawn site not captured; configure({ spawnSites: "always" }))');
    else for (const f of g.site.split('\n')) lines.push(`    ${f}`);
  }
  return lines.join('\n') + '\n';
}

/** For a leaked task, the state it was last in (with the channel it waited on), else ''. @internal */
export function wasDoing(e: Entry): string {
  if (e._state !== LEAKED) return '';
  const d = leakDetail(e);
  if (d === undefined) return '';
  return d.lastOn === '' ? d.lastState : `${d.lastState} on ${JSON.stringify(d.lastOn)}`;
}

/**
 * A state as dumps write it: "waiting: chan receive on "x"", "leaked (unreachable), was running".
 * `quote` and `line` let corral/inspect escape what a name or a state may hold. @internal
 */
export function stateLine(state: string, on: string, was: string, quote: (s: string) => string = JSON.stringify, line: (s: string) => string = (s) => s): string {
  let s = line(state);
  if (on !== '') s += ` on ${quote(on)}`;
  if (was !== '') s += `, was ${line(was)}`;
  return s;
}
