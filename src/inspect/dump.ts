/**
 * Task dumps, Go's goroutine profile for corral: grouped by spawn site (pprof `debug=1`), every
 * task with its parent chain (`debug=2`), or a versioned JSON document for tools.
 *
 * A dump reads the registry in one synchronous pass: nothing runs in between, so counts and
 * states are one consistent instant. It shows names, labels (through the redaction), states, ages
 * and spawn sites; it never touches a task's arguments, closure or result, which the registry
 * does not even hold.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Grouping by labels as pprof does: one label that varies per task (a request id) would split
 *   every site into single-task rows. Labels show per task in the full and JSON dumps.
 * - One string key per task ("name\0state\0site"): it builds and hashes a string as long as the
 *   stack for each of 100,000 tasks. Nested maps keyed by interned strings hash each once.
 * @module
 */
import { stateLine, TaskBuckets, wasDoing, type TaskBucket } from '../dump.js';
import { epochOf, entryInfo, FINAL, forEachEntry, formatAge, formatSite, now, waitingOn, type Entry, type EntryInfo } from '../registry.js';
import { describe } from '../validate.js';
import { hasLabels, redactLabels, redactorFor, type Redactor } from './redact.js';

/** The formats {@link dump} writes. */
export type DumpFormat = 'grouped' | 'full' | 'json';

/** The `schema` of the JSON dump; a change that breaks a reader gets a new version. */
export const DUMP_SCHEMA = 'corral.dump/v1';

/** Options for {@link groupTasks}. */
export interface GroupTasksOptions {
  /** Selects the tasks counted; it sees each live task as plain data (labels not redacted). Default: all. */
  filter?: (task: EntryInfo) => boolean;
  /** The most sites returned (the largest ones). Default: all. */
  limit?: number;
}

/** Options for {@link dump}. */
export interface DumpOptions extends GroupTasksOptions {
  /** Default 'grouped'. */
  format?: DumpFormat;
  /**
   * Redaction of labels: the value to show, or undefined to leave the label out. Default: the
   * process-wide one ({@link setRedaction}), else labels as they are.
   */
  redact?: Redactor;
  /**
   * `limit` is the most rows: sites for 'grouped', tasks for 'full', tasks and sites for 'json'
   * (the oldest tasks are kept, the largest sites). What is left out is counted in the output.
   */
  limit?: number;
  /**
   * The most bytes (UTF-8) of output. Text is cut after the last whole entry that fits, with a
   * marker line saying how much was shown; JSON is never cut (it would not parse): the dump throws
   * {@link DumpTooLargeError} instead. Default: no limit. At least 1024.
   */
  maxBytes?: number;
}

/** One row of the grouped dump: live tasks sharing a name, state and spawn site. */
export interface TaskSite {
  name: string;
  state: string;
  /** What the tasks wait on, when it has a name (a channel's). */
  waitingOn?: string;
  /** For tasks found unreachable (state 'leaked (unreachable)'): the state they were in then, with what they waited on. */
  lastState?: string;
  /** The spawn site as "at ..." lines; absent when not captured. */
  spawnSite?: string;
  count: number;
  /** How long the oldest of them has been in this state, ms. */
  oldestMs: number;
  /** Ids of the oldest of them (up to 10), oldest first. */
  taskIds: number[];
}

/** A task in the JSON dump. */
export interface DumpJsonTask {
  id: number;
  name: string;
  labels: Record<string, string>;
  state: string;
  waitingOn: string | null;
  /** For a task found unreachable: the state it was in then, with what it waited on; else null. */
  lastState: string | null;
  /** Epoch ms when it entered `state`. */
  since: number;
  /** Epoch ms when it was spawned. */
  startedAt: number;
  /** `takenAt - since`. */
  ageMs: number;
  /** Its group's id. */
  parentId: number | null;
  spawnSite: string | null;
}

/** A group in the JSON dump. */
export interface DumpJsonGroup {
  id: number;
  name: string;
  labels: Record<string, string>;
  state: string;
  since: number;
  startedAt: number;
  ageMs: number;
  /** The task that created it, when there was one. */
  parentId: number | null;
  /** Its live tasks. */
  tasks: number;
  spawnSite: string | null;
}

/** A site row in the JSON dump: a {@link TaskSite} with nulls for what is absent. */
export interface DumpJsonSite {
  name: string;
  state: string;
  waitingOn: string | null;
  lastState: string | null;
  spawnSite: string | null;
  count: number;
  oldestMs: number;
  taskIds: number[];
}

/** The JSON dump, schema "corral.dump/v1" (documented field by field in docs/inspect.md). */
export interface DumpJson {
  schema: typeof DUMP_SCHEMA;
  takenAt: number;
  pid: number;
  counts: { tasks: number; groups: number };
  filtered: boolean;
  omitted: { tasks: number; sites: number };
  tasks: DumpJsonTask[];
  groups: DumpJsonGroup[];
  sites: DumpJsonSite[];
}

/**
 * DumpTooLargeError is thrown by {@link dump} when a JSON dump would exceed `maxBytes` (a cut
 * JSON document would not parse). Ask for fewer rows (`limit`), a filter, or the grouped format.
 */
export class DumpTooLargeError extends Error {
  /** Always `'ERR_CORRAL_DUMP_TOO_LARGE'`. */
  readonly code = 'ERR_CORRAL_DUMP_TOO_LARGE' as const;
  /** The limit that was exceeded. */
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`the JSON dump exceeds maxBytes (${maxBytes}); ask for fewer rows with limit, a filter, or the grouped format`);
    this.name = 'DumpTooLargeError';
    this.maxBytes = maxBytes;
  }
}

// --- options -----------------------------------------------------------------------------------

const FORMATS: readonly DumpFormat[] = ['grouped', 'full', 'json'];
const DUMP_KEYS = new Set(['format', 'redact', 'filter', 'limit', 'maxBytes']);
const GROUP_KEYS = new Set(['filter', 'limit']);
/** Below this a text dump could not hold its header and marker. */
const MIN_BYTES = 1024;

interface Resolved {
  format: DumpFormat;
  redact: Redactor | undefined;
  filter: ((task: EntryInfo) => boolean) | undefined;
  limit: number;
  maxBytes: number;
}

function resolve(options: unknown, keys: Set<string>, fn: string): Resolved {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: options must be an object (got ${describe(options)})`);
  for (const k of Object.keys(options)) if (!keys.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  const o = options as DumpOptions;
  const format = o.format ?? 'grouped';
  if (!FORMATS.includes(format)) throw new RangeError(`${fn}: format must be one of ${FORMATS.join(', ')} (got ${describe(format)})`);
  if (o.redact !== undefined && typeof o.redact !== 'function') throw new TypeError(`${fn}: redact must be a function (got ${describe(o.redact)})`);
  if (o.filter !== undefined && typeof o.filter !== 'function') throw new TypeError(`${fn}: filter must be a function (got ${describe(o.filter)})`);
  if (o.limit !== undefined && !(Number.isSafeInteger(o.limit) && o.limit >= 1)) {
    throw new RangeError(`${fn}: limit must be an integer >= 1 (got ${describe(o.limit)})`);
  }
  if (o.maxBytes !== undefined && !(Number.isSafeInteger(o.maxBytes) && o.maxBytes >= MIN_BYTES)) {
    throw new RangeError(`${fn}: maxBytes must be an integer >= ${MIN_BYTES} (got ${describe(o.maxBytes)})`);
  }
  return {
    format,
    redact: redactorFor(o.redact),
    filter: o.filter,
    limit: o.limit ?? Infinity,
    maxBytes: o.maxBytes ?? Infinity,
  };
}

/** Checks dump options for a caller that dumps later (a signal, a request), naming `fn`. @internal */
export function checkDumpOptions(options: DumpOptions, fn: string): void {
  resolve(options, DUMP_KEYS, fn);
}

// --- one pass over the registry ----------------------------------------------------------------

/** What one pass over the registry collected. */
interface Pass {
  /** Registry ms of the pass. */
  at: number;
  /** Live tasks and groups in the whole registry. */
  tasks: number;
  groups: number;
  /** How many tasks the filter kept. */
  matched: number;
  /** The tasks the filter kept, oldest first (when asked for). */
  kept: Entry[];
  /** Live groups, oldest first. */
  groupList: Entry[];
  /** Live tasks per group (when asked for). */
  taskCount: Map<Entry, number>;
}

/**
 * Walks the registry once. Whatever a dump needs of a task is read in this walk: with 100,000
 * entries the list is larger than the CPU's caches, and a second walk pays the misses again.
 */
function collect(filter: ((task: EntryInfo) => boolean) | undefined, buckets: TaskBuckets | undefined, keep: boolean): Pass {
  const kept: Entry[] = [];
  const groupList: Entry[] = [];
  const taskCount = new Map<Entry, number>();
  let tasks = 0;
  let matched = 0;
  forEachEntry((e) => {
    if (e.kind === 'group') {
      groupList.push(e);
      return;
    }
    tasks++;
    if (keep) {
      const g = e._owner;
      if (g !== undefined) taskCount.set(g, (taskCount.get(g) ?? 0) + 1);
    }
    if (filter !== undefined && !filter(entryInfo(e))) return;
    matched++;
    if (keep) kept.push(e);
    if (buckets !== undefined) buckets.add(e);
  });
  // The list runs newest first; dumps read oldest first, like ids.
  kept.reverse();
  groupList.reverse();
  return { at: now(), tasks, groups: groupList.length, matched, kept, groupList, taskCount };
}

function siteOf(b: TaskBucket, at: number): TaskSite {
  const s: TaskSite = { name: b.name, state: b.state, count: b.count, oldestMs: Math.max(0, at - b.oldest), taskIds: b.ids };
  if (b.on !== '') s.waitingOn = b.on;
  if (b.was !== '') s.lastState = b.was;
  if (b.site !== undefined) s.spawnSite = b.site;
  return s;
}

/**
 * groupTasks returns the live tasks grouped by spawn site, state and name as plain objects, the
 * largest group first (ties: the oldest first): the data of the grouped dump, for code (a
 * watchdog, a CLI, a health check). Never holds task arguments, results or labels.
 *
 * Cost: one pass over the live tasks; a spawn site is formatted once per distinct stack.
 *
 * @throws TypeError for an unknown option or a filter that is not a function; RangeError for a bad `limit`.
 * @example
 * ```ts
 * const [top] = groupTasks({ limit: 1 });
 * if (top !== undefined && top.count > 10_000) log.warn(`${top.count} tasks "${top.name}" [${top.state}]`, { site: top.spawnSite });
 * ```
 */
export function groupTasks(options?: GroupTasksOptions): TaskSite[] {
  const o = resolve(options, GROUP_KEYS, 'groupTasks');
  const b = new TaskBuckets();
  const pass = collect(o.filter, b, false);
  const buckets = b.sorted();
  const n = Math.min(buckets.length, o.limit);
  const out: TaskSite[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = siteOf(buckets[i] as TaskBucket, pass.at);
  return out;
}

// --- text --------------------------------------------------------------------------------------

/**
 * Whether a UTF-16 unit is a C0 or C1 control, DEL, or a Unicode line separator: none may reach a
 * terminal or split a dump's lines, whatever a task's name or a file path holds. @internal
 */
export function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
}

/** Text for one line: control characters escaped as \uXXXX. @internal */
export function oneLine(s: string): string {
  let i = 0;
  while (i < s.length && !isControl(s.charCodeAt(i))) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += isControl(c) ? `\\u${c.toString(16).padStart(4, '0')}` : s[i];
  }
  return out;
}

/** A string as a double-quoted literal with every control character escaped. @internal */
export function quote(s: string): string {
  // JSON.stringify escapes the quote, the backslash and C0; oneLine the rest.
  return oneLine(JSON.stringify(s));
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;

function labelsText(labels: Record<string, string>): string {
  let out = '';
  for (const k of Object.keys(labels)) out += `${out === '' ? '' : ' '}${PLAIN_KEY.test(k) ? k : quote(k)}=${quote(labels[k] as string)}`;
  return out;
}

function stateText(state: string, on: string, was: string): string {
  return stateLine(state, on, was, quote, oneLine);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "1 task matches the filter", "3 tasks match the filter". */
function matching(n: number): string {
  return `${plural(n, 'task')} match${n === 1 ? 'es' : ''} the filter`;
}

/**
 * Writes text blocks as UTF-8 into one growing buffer, up to a byte budget. Only whole blocks go
 * in, so a cut dump never ends in the middle of an entry. A buffer rather than an array of
 * strings joined at the end: each block is garbage as soon as it is copied, so the 100,000 blocks
 * of a full dump die young instead of being kept alive and promoted by the GC (measured: a full
 * dump of 100,000 tasks ~25% faster). The JSON dump, whose pieces are few and flat, joins instead.
 */
class Text {
  private _buf = Buffer.allocUnsafe(64 * 1024);
  private _len = 0;
  /** Whether a block was refused: everything after it is left out. */
  full = false;
  constructor(private readonly _max: number) {}

  /** Adds `block` if it fits; false (and nothing more goes in) if not. */
  add(block: string): boolean {
    if (this.full) return false;
    if (this._write(block, this._max - MARKER_ROOM)) return true;
    this.full = true;
    return false;
  }

  /** The text, with `marker` last when a block was refused (in the room kept for it). */
  done(marker: string): string {
    if (this.full) this._write(marker, this._max);
    return this._buf.toString('utf8', 0, this._len);
  }

  private _write(block: string, limit: number): boolean {
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    const need = this._len + block.length * 3;
    if (need > this._buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this._buf.length * 2));
      this._buf.copy(bigger, 0, 0, this._len);
      this._buf = bigger;
    }
    const n = this._buf.write(block, this._len, 'utf8');
    if (this._len + n > limit) return false;
    this._len += n;
    return true;
  }
}

/** Bytes kept free for the truncation marker. */
const MARKER_ROOM = 256;

function marker(max: number, shown: number, total: number, what: string): string {
  return `\n-- truncated at ${max} bytes: ${shown} of ${plural(total, what)} shown; ask for fewer (limit) or a narrower filter --\n`;
}

function grouped(o: Resolved): string {
  const b = new TaskBuckets();
  const pass = collect(o.filter, b, false);
  const buckets = b.sorted();
  const filtered = o.filter !== undefined;
  // The header and rows read exactly as the core's dumpTasks() for names without quotes or
  // control characters, so tools that parse one parse the other.
  let header = `corral: ${plural(pass.tasks, 'task')} in ${plural(pass.groups, 'group')}`;
  if (filtered) header += `; ${matching(pass.matched)}`;
  const text = new Text(o.maxBytes);
  text.add(`${header}\n`);
  const n = Math.min(buckets.length, o.limit);
  let shown = 0;
  for (let i = 0; i < n; i++) {
    const b = buckets[i] as TaskBucket;
    let block = `\n${plural(b.count, 'task')} ${quote(b.name)} [${stateText(b.state, b.on, b.was)}, oldest ${formatAge(pass.at - b.oldest)}]\n`;
    if (b.site === undefined) block += '    (spawn site not captured; configure({ spawnSites: "always" }))\n';
    else block += siteBlock(b.site, undefined);
    if (!text.add(block)) break;
    shown++;
  }
  if (!text.full && n < buckets.length) {
    let rest = 0;
    for (let i = n; i < buckets.length; i++) rest += (buckets[i] as TaskBucket).count;
    text.add(`\n... and ${plural(buckets.length - n, 'more site')} (${plural(rest, 'task')})\n`);
  }
  return text.done(marker(o.maxBytes, shown, buckets.length, 'site'));
}

/** A spawn site's lines, indented; `cache` keeps them per site for one dump (many tasks share a site). */
function siteBlock(site: string, cache: Map<string, string> | undefined): string {
  let block = cache?.get(site);
  if (block === undefined) {
    block = '';
    for (const f of site.split('\n')) block += `    ${oneLine(f)}\n`;
    cache?.set(site, block);
  }
  return block;
}

const MAX_HOPS = 16;

/** "task 7 "scheduler"" or "group 3 "sync"", with the state of a task that has finished. */
function entryRef(e: Entry): string {
  const done = e.kind === 'task' && (e._flags & FINAL) !== 0 ? ` (${oneLine(e._state)})` : '';
  return `${e.kind} ${e.id} ${quote(e._name)}${done}`;
}

/**
 * The chain above an entry, from its owner up: "in group 3 "sync", spawned by task 7
 * "scheduler" in group 1 "root"". Ends with ", ..." past MAX_HOPS (ownership cannot cycle, but a
 * deep recursion of groups would make a line nobody reads).
 */
function chainOf(owner: Entry | undefined, cache: Map<Entry, string>): string {
  if (owner === undefined) return '';
  const cached = cache.get(owner);
  if (cached !== undefined) return cached;
  let out = '';
  let e: Entry | undefined = owner;
  for (let hops = 0; e !== undefined; hops++) {
    if (hops === MAX_HOPS) {
      out += ', ...';
      break;
    }
    if (e.kind === 'group') out += `${out === '' ? '' : ' '}in ${entryRef(e)}`;
    else out += `${out === '' ? '' : ', '}spawned by ${entryRef(e)}`;
    e = e._owner;
  }
  cache.set(owner, out);
  return out;
}

function full(o: Resolved): string {
  const pass = collect(o.filter, undefined, true);
  const filtered = o.filter !== undefined;
  const taken = new Date(epochOf(pass.at)).toISOString();
  let header = `corral: ${plural(pass.tasks, 'task')} in ${plural(pass.groups, 'group')}, pid ${process.pid}, taken ${taken}`;
  if (filtered) header += `; ${matching(pass.kept.length)}`;
  const text = new Text(o.maxBytes);
  text.add(`${header}\n`);
  const chains = new Map<Entry, string>();
  const sites = new Map<string, string>();
  const n = Math.min(pass.kept.length, o.limit);
  let shown = 0;
  let uncaptured = 0;
  for (let i = 0; i < n; i++) {
    const e = pass.kept[i] as Entry;
    const since = pass.at - e._since;
    const life = pass.at - e._startedAt;
    let block = `\ntask ${e.id} ${quote(e._name)} [${stateText(e._state, waitingOn(e), wasDoing(e))}, ${formatAge(since)}${life - since >= 1000 ? `, started ${formatAge(life)} ago` : ''}]\n`;
    if (hasLabels(e._labels)) {
      const labels = redactLabels(e._labels, o.redact);
      if (hasLabels(labels)) block += `    labels: ${labelsText(labels)}\n`;
    }
    const site = formatSite(e);
    if (site === undefined) uncaptured++;
    else block += siteBlock(site, sites);
    const chain = chainOf(e._owner, chains);
    if (chain !== '') block += `    ${chain}\n`;
    if (!text.add(block)) break;
    shown++;
  }
  if (!text.full && n < pass.kept.length) text.add(`\n... and ${plural(pass.kept.length - n, 'more task')} (limit ${o.limit})\n`);
  if (!text.full && uncaptured > 0) {
    text.add(`\n(${plural(uncaptured, 'task')} without a captured spawn site; configure({ spawnSites: "always" }) captures every one)\n`);
  }
  const groups = filtered ? groupsOnChains(pass.kept.slice(0, shown)) : pass.groupList;
  if (!text.full && groups.length > 0) {
    text.add('\ngroups:\n');
    for (const g of groups) {
      const count = pass.taskCount.get(g) ?? 0;
      let block = `group ${g.id} ${quote(g._name)} [${oneLine(g._state)}, ${formatAge(pass.at - g._since)}, ${plural(count, 'task')}]\n`;
      if (hasLabels(g._labels)) {
        const labels = redactLabels(g._labels, o.redact);
        if (hasLabels(labels)) block += `    labels: ${labelsText(labels)}\n`;
      }
      const chain = chainOf(g._owner, chains);
      if (chain !== '') block += `    ${chain}\n`;
      if (!text.add(block)) break;
    }
  }
  return text.done(marker(o.maxBytes, shown, pass.kept.length, 'task'));
}

/** The live groups on the chains above `tasks`, oldest first. */
function groupsOnChains(tasks: readonly Entry[]): Entry[] {
  const seen = new Set<Entry>();
  for (const t of tasks) {
    let e = t._owner;
    for (let hops = 0; e !== undefined && hops < MAX_HOPS && !seen.has(e); hops++) {
      if (e.kind === 'group') seen.add(e);
      e = e._owner;
    }
  }
  // Keep only the live ones: a finished task's group may have ended too.
  const live = new Set<Entry>();
  forEachEntry((e) => {
    if (seen.has(e)) live.add(e);
  });
  return [...live].sort((a, b) => a.id - b.id);
}

// --- JSON --------------------------------------------------------------------------------------

function json(o: Resolved): string {
  const bucketer = new TaskBuckets();
  const pass = collect(o.filter, bucketer, true);
  const at = pass.at;
  const buckets = bucketer.sorted();
  const n = Math.min(pass.kept.length, o.limit);
  const m = Math.min(buckets.length, o.limit);
  // Strings joined at the end, not the Text buffer: JSON.stringify's results are flat and large,
  // and a join of them measured faster than copying them into a growing buffer.
  const parts: string[] = [];
  let bytes = 0;
  const put = (s: string): void => {
    if (o.maxBytes !== Infinity && (bytes += Buffer.byteLength(s)) > o.maxBytes) throw new DumpTooLargeError(o.maxBytes);
    parts.push(s);
  };
  put(
    `{"schema":${JSON.stringify(DUMP_SCHEMA)},"takenAt":${epochOf(at)},"pid":${process.pid},` +
      `"counts":{"tasks":${pass.tasks},"groups":${pass.groups}},"filtered":${o.filter !== undefined},` +
      `"omitted":{"tasks":${pass.kept.length - n},"sites":${buckets.length - m}},"tasks":[`,
  );
  for (let i = 0; i < n; i++) {
    const e = pass.kept[i] as Entry;
    const on = waitingOn(e);
    const t: DumpJsonTask = {
      id: e.id,
      name: e._name,
      labels: redactLabels(e._labels, o.redact),
      state: e._state,
      waitingOn: on === '' ? null : on,
      lastState: wasDoing(e) || null,
      since: epochOf(e._since),
      startedAt: epochOf(e._startedAt),
      ageMs: Math.max(0, at - e._since),
      parentId: e._owner?.id ?? null,
      spawnSite: formatSite(e) ?? null,
    };
    put(i === 0 ? JSON.stringify(t) : `,${JSON.stringify(t)}`);
  }
  put('],"groups":[');
  const groups = o.filter !== undefined ? groupsOnChains(pass.kept.slice(0, n)) : pass.groupList;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as Entry;
    const j: DumpJsonGroup = {
      id: g.id,
      name: g._name,
      labels: redactLabels(g._labels, o.redact),
      state: g._state,
      since: epochOf(g._since),
      startedAt: epochOf(g._startedAt),
      ageMs: Math.max(0, at - g._since),
      parentId: g._owner?.id ?? null,
      tasks: pass.taskCount.get(g) ?? 0,
      spawnSite: formatSite(g) ?? null,
    };
    put(i === 0 ? JSON.stringify(j) : `,${JSON.stringify(j)}`);
  }
  put('],"sites":[');
  for (let i = 0; i < m; i++) {
    const b = buckets[i] as TaskBucket;
    const row: DumpJsonSite = {
      name: b.name,
      state: b.state,
      waitingOn: b.on === '' ? null : b.on,
      lastState: b.was === '' ? null : b.was,
      spawnSite: b.site ?? null,
      count: b.count,
      oldestMs: Math.max(0, at - b.oldest),
      taskIds: b.ids,
    };
    put(i === 0 ? JSON.stringify(row) : `,${JSON.stringify(row)}`);
  }
  put(']}');
  return parts.join('');
}

/**
 * dump returns a readable dump of the live tasks, like Go's goroutine profile:
 *
 * - `'grouped'` (the default; pprof `debug=1`): one entry per spawn site, state and name with its
 *   count and oldest age, the largest first; the same text as the core's `dumpTasks()`.
 * - `'full'` (pprof `debug=2`): every task, oldest first, as
 *   `task 42 "his-sync" [waiting: chan receive on "results", 5m12s]` with its labels, spawn site
 *   and parent chain (`in group 3 "sync", spawned by task 7 "scheduler" in group 1 "root"`),
 *   then the live groups.
 * - `'json'`: the "corral.dump/v1" document (see docs/inspect.md): counts, tasks, groups and the
 *   grouped rows, ages in milliseconds, times in epoch milliseconds.
 *
 * Names, states and sites are quoted and escaped so no value can break a line or fake an entry.
 * Labels pass through the redaction (`redact`, else {@link setRedaction}'s). Never task
 * arguments or results.
 *
 * Cost: one synchronous pass over the live tasks. A spawn site is formatted once per distinct
 * stack (the first read of a captured stack makes V8 format it, ~5 µs; see bench/dump.mjs).
 *
 * @throws TypeError for an unknown option or a wrong type; RangeError for a bad `format`, `limit`
 *   or `maxBytes`; {@link DumpTooLargeError} when a JSON dump exceeds `maxBytes`.
 * @example
 * ```ts
 * console.error(dump({ format: 'full', redact: (key, value) => (key === 'study' ? value : undefined) }));
 * const doc = JSON.parse(dump({ format: 'json', limit: 100 })); // doc.schema === 'corral.dump/v1'
 * ```
 */
export function dump(options?: DumpOptions): string {
  const o = resolve(options, DUMP_KEYS, 'dump');
  if (o.format === 'grouped') return grouped(o);
  if (o.format === 'full') return full(o);
  return json(o);
}
