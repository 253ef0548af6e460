/**
 * `corral top URL`: a refreshing view of a service's live tasks, by spawn site (count, growth per
 * second since the last refresh, oldest age), its oldest tasks and its watchdog's alerts. On a
 * terminal each refresh redraws the screen; anywhere else each refresh is printed as plain text,
 * so `corral top URL -n 3 > log` records three snapshots.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, type FlagSpec } from './args.js';
import { timeoutFlag } from './dump.js';
import { NotFound, endpointBase, getText, tokenFrom } from './endpoint.js';
import { CliError, UsageError } from './errors.js';
import { COMMAND_HELP } from './help.js';
import { formatAge as age } from '../registry.js';
import { oneLine } from '../inspect/dump.js';

// Rows asked of the service: its largest sites and its oldest tasks. More than a screen shows,
// and it keeps a service with 100,000 tasks from sending them all every refresh.
const ROWS = 200;

const FLAGS: readonly FlagSpec[] = [
  { name: 'interval', short: 'i', kind: 'integer' },
  { name: 'once', kind: 'boolean' },
  { name: 'count', short: 'n', kind: 'integer' },
  { name: 'token', kind: 'string' },
  { name: 'timeout', kind: 'integer' },
];

/** A task as the "corral.dump/v1" JSON has it (the fields top reads). */
export interface DumpTask {
  id: number;
  name: string;
  state: string;
  waitingOn?: string | null;
  since: number;
  startedAt: number;
  spawnSite?: string | null;
}

/** A spawn-site row as the dump's `sites` array has it. */
export interface DumpSite {
  name: string;
  state: string;
  waitingOn?: string | null;
  spawnSite?: string | null;
  count: number;
  oldestMs: number;
}

/** The "corral.dump/v1" JSON dump (the fields top reads). */
export interface DumpJson {
  schema: string;
  takenAt: number;
  pid?: number;
  counts?: { tasks: number; groups: number };
  tasks: DumpTask[];
  groups?: unknown[];
  sites?: DumpSite[];
  /** What `limit` left out. */
  omitted?: { tasks: number; sites: number };
}

/** A watchdog alert as `/debug/corral/watchdog` lists it (the fields top reads). */
export interface Alert {
  rule: string;
  severity: string;
  message: string;
  at: number | string;
  /** When its cause went away; absent while it stands. */
  clearedAt?: number;
}

/** One site row on screen. */
export interface SiteRow extends DumpSite {
  /** Tasks per second since the previous refresh; undefined on the first. */
  growth: number | undefined;
}

/** Everything one frame shows. */
export interface TopView {
  endpoint: string;
  intervalMs: number;
  pid: number | undefined;
  takenAt: number;
  tasks: number;
  groups: number;
  taskGrowth: number | undefined;
  sites: SiteRow[];
  /** Sites the service left out of its answer (beyond `limit`). */
  omittedSites: number;
  oldest: DumpTask[];
  /** Undefined when the service has no watchdog endpoint. */
  alerts: Alert[] | undefined;
  /** The last refresh's failure, shown over the previous data. */
  error?: string;
}

/** Runs `corral top`; resolves with the exit code. */
export async function top(argv: readonly string[], out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number; rows?: number }): Promise<number> {
  const { flags, positionals } = parseArgs('top', argv, FLAGS);
  if (flags.has('help')) {
    out.write(COMMAND_HELP.top as string);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing the service URL' : `expected one URL, got ${positionals.length}`, 'top');
  }
  const interval = flags.get('interval') ?? 2_000;
  if (typeof interval !== 'number' || interval < 100) throw new UsageError(`--interval must be at least 100 ms (got ${String(interval)})`, 'top');
  if (flags.has('once') && flags.has('count')) throw new UsageError('give --once or -n N, not both', 'top');
  const count = flags.has('once') ? 1 : (flags.get('count') as number | undefined);
  if (count !== undefined && count < 1) throw new UsageError(`-n must be at least 1 (got ${count})`, 'top');
  const timeoutMs = timeoutFlag('top', flags.get('timeout'));
  const base = endpointBase(positionals[0] as string, 'top');
  const token = tokenFrom(flags.get('token'));
  const tty = out.isTTY === true;

  if (tty && count === undefined) {
    // Ctrl+C is how a terminal top ends: leave the cursor on a fresh line and exit 0.
    process.once('SIGINT', () => {
      out.write('\n');
      process.exit(0);
    });
  }
  let prev: TopView | undefined;
  for (let i = 0; count === undefined || i < count; i++) {
    if (i > 0) await sleep(interval);
    let view: TopView;
    try {
      const [tasksBody, alertsBody] = await Promise.all([
        getText(new URL(`tasks?format=json&limit=${ROWS}`, base), { token, timeoutMs }),
        getText(new URL('watchdog', base), { token, timeoutMs }, true),
      ]);
      view = buildView(base.href, interval, parseDump(base, tasksBody as string), alertsBody instanceof NotFound ? undefined : parseAlerts(base, alertsBody), prev);
    } catch (err) {
      // The first answer decides whether the URL is right; later failures (a restart) are shown
      // over the last data while top keeps trying.
      if (prev === undefined || !(err instanceof CliError)) throw err;
      view = { ...prev, error: err.message, taskGrowth: undefined, sites: prev.sites.map((s) => ({ ...s, growth: undefined })) };
    }
    const frame = renderTop(view, { width: tty ? (out.columns ?? 80) : Infinity, height: tty ? (out.rows ?? 24) : Infinity });
    out.write(tty ? `\x1b[H\x1b[2J${frame}` : `${i > 0 ? '\n' : ''}${frame}`);
    if (view.error === undefined) prev = view;
  }
  return 0;
}

function parseDump(base: URL, body: string): DumpJson {
  let data: DumpJson;
  try {
    data = JSON.parse(body) as DumpJson;
  } catch {
    throw new CliError(`${base.href}tasks did not answer JSON; is it a corral debug endpoint?`);
  }
  if (typeof data?.schema !== 'string' || !data.schema.startsWith('corral.dump/') || !Array.isArray(data.tasks)) {
    throw new CliError(`${base.href}tasks answered JSON that is not a corral dump (schema ${JSON.stringify(data?.schema)})`);
  }
  return data;
}

function parseAlerts(base: URL, body: string): Alert[] {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    throw new CliError(`${base.href}watchdog did not answer JSON`);
  }
  const list = Array.isArray(data) ? data : (data as { alerts?: unknown } | null)?.alerts;
  return Array.isArray(list) ? (list as Alert[]) : [];
}

const siteKey = (s: { name: string; state: string; waitingOn?: string | null; spawnSite?: string | null }): string =>
  `${s.name}\u0000${s.state}\u0000${s.waitingOn ?? ''}\u0000${s.spawnSite ?? ''}`;

/** Site rows from the dump: its `sites` when present, else grouped here from its tasks. */
export function sitesOf(dump: DumpJson): DumpSite[] {
  if (Array.isArray(dump.sites)) return dump.sites;
  const rows = new Map<string, DumpSite>();
  for (const t of dump.tasks) {
    const key = siteKey(t);
    const age = Math.max(0, dump.takenAt - t.since);
    const row = rows.get(key);
    if (row === undefined) {
      rows.set(key, { name: t.name, state: t.state, waitingOn: t.waitingOn, spawnSite: t.spawnSite, count: 1, oldestMs: age });
    } else {
      row.count++;
      if (age > row.oldestMs) row.oldestMs = age;
    }
  }
  return [...rows.values()];
}

/** Builds a frame's data; growth compares with `prev`, the previous frame. */
export function buildView(endpoint: string, intervalMs: number, dump: DumpJson, alerts: Alert[] | undefined, prev: TopView | undefined): TopView {
  const dt = prev === undefined ? 0 : (dump.takenAt - prev.takenAt) / 1000;
  const before = new Map((prev?.sites ?? []).map((s) => [siteKey(s), s.count]));
  const sites: SiteRow[] = sitesOf(dump)
    .map((s) => ({ ...s, growth: dt > 0 ? (s.count - (before.get(siteKey(s)) ?? 0)) / dt : undefined }))
    .sort((a, b) => b.count - a.count || b.oldestMs - a.oldestMs);
  const tasks = dump.counts?.tasks ?? dump.tasks.length;
  const oldest = [...dump.tasks].sort((a, b) => a.startedAt - b.startedAt || a.id - b.id).slice(0, 5);
  return {
    endpoint,
    intervalMs,
    pid: dump.pid,
    takenAt: dump.takenAt,
    tasks,
    groups: dump.counts?.groups ?? dump.groups?.length ?? 0,
    taskGrowth: prev === undefined || dt <= 0 ? undefined : (tasks - prev.tasks) / dt,
    sites,
    omittedSites: dump.omitted?.sites ?? 0,
    oldest,
    // The endpoint lists alerts oldest first.
    alerts: alerts?.slice(-5).reverse(),
  };
}

// --- rendering ------------------------------------------------------------------------------------

/** Renders a frame as text lines, fitted to `width` columns and `height` rows (Infinity: no limit). */
export function renderTop(view: TopView, size: { width: number; height: number }): string {
  const head = [
    `corral top  ${view.endpoint}${view.pid === undefined ? '' : `  pid ${view.pid}`}  ${clock(view.takenAt)}  every ${age(view.intervalMs)}`,
    `${plural(view.tasks, 'task')}${view.taskGrowth === undefined ? '' : ` (${rate(view.taskGrowth)})`} in ${plural(view.groups, 'group')}`,
  ];
  if (view.error !== undefined) head.push(`! ${view.error} (showing the last answer; retrying)`);

  const oldest = ['', 'OLDEST TASKS'];
  if (view.oldest.length === 0) oldest.push('  (none)');
  for (const t of view.oldest) {
    oldest.push(`  ${pad(age(view.takenAt - t.startedAt), 7, true)}  #${t.id} ${t.name}  ${stateText(t)}  ${firstFrame(t.spawnSite)}`);
  }

  const watch = ['', 'WATCHDOG'];
  if (view.alerts === undefined) watch.push('  (no watchdog on this service)');
  else if (view.alerts.length === 0) watch.push('  (no alerts)');
  else {
    for (const a of view.alerts) {
      const cleared = typeof a.clearedAt === 'number' ? ` (cleared ${clock(a.clearedAt)})` : '';
      watch.push(`  ${clock(typeof a.at === 'number' ? a.at : Date.parse(a.at))}  ${pad(a.severity, 8)}  ${a.rule}: ${a.message}${cleared}`);
    }
  }

  const sites = ['', `  ${pad('COUNT', 7, true)} ${pad('+/s', 8, true)} ${pad('OLDEST', 7, true)}  ${pad('NAME', 18)}  ${pad('STATE', 30)}  SITE`];
  // On a terminal the site table gets what the other sections leave (less a row for the "more"
  // line and one for the cursor after the last newline, which would scroll), at least three rows.
  const room = Math.max(3, size.height - head.length - oldest.length - watch.length - sites.length - 2);
  const shown = Number.isFinite(room) ? view.sites.slice(0, room) : view.sites;
  for (const s of shown) {
    sites.push(
      `  ${pad(String(s.count), 7, true)} ${pad(s.growth === undefined ? '-' : rate(s.growth), 8, true)} ${pad(age(s.oldestMs), 7, true)}  ${pad(s.name, 18)}  ${pad(stateText(s), 30)}  ${firstFrame(s.spawnSite)}`,
    );
  }
  const more = view.sites.length - shown.length + view.omittedSites;
  if (more > 0) sites.push(`  ... ${more} more site${more === 1 ? '' : 's'}`);
  if (view.sites.length === 0) sites.push('  (no live tasks)');

  // Names, states, sites and alert messages come from the service as they are: a control
  // character in one (an escape sequence, a line break) must not reach the terminal or split a row.
  return [...head, ...sites, ...oldest, ...watch].map((l) => fit(oneLine(l), size.width)).join('\n') + '\n';
}

function stateText(s: { state: string; waitingOn?: string | null }): string {
  return s.waitingOn === undefined || s.waitingOn === null || s.waitingOn === '' ? s.state : `${s.state} on ${JSON.stringify(s.waitingOn)}`;
}

/** The first frame of a spawn site, its path cut to the last two segments: "syncLoop (app/sync.js:12:5)". */
export function firstFrame(site: string | null | undefined): string {
  if (site === undefined || site === null || site === '') return '(site not captured)';
  const line = (site.split('\n')[0] as string).trim().replace(/^at /, '');
  return line.replace(/(?:file:\/\/)?(?:[^\s()]*[/\\])?([^/\\\s()]+[/\\][^/\\\s()]+:\d+:\d+)/, '$1');
}

function pad(s: string, n: number, right = false): string {
  const cut = s.length > n ? `${s.slice(0, n - 1)}…` : s;
  return right ? cut.padStart(n) : cut.padEnd(n);
}

function fit(line: string, width: number): string {
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}

function rate(perSec: number): string {
  const r = Math.round(perSec * 10) / 10;
  return `${r > 0 ? '+' : ''}${r}/s`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function clock(epochMs: number): string {
  if (!Number.isFinite(epochMs)) return '--:--:--';
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
