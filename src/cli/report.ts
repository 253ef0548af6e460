/**
 * What `corral run` reports about a program: its corral tasks still live (grouped by spawn site)
 * and the handles holding its event loop open (with creation sites). Collected inside the program
 * by the preload, as plain data the CLI reads back, and as text for the terminal. Never task
 * arguments or results: names, states, ages, sites, addresses.
 * @module
 */
import { formatHandles, type HandleInfo, type HandleTracker } from '../inspect/handles.js';

/** The parts of the program's corral module the report reads. */
export interface CorralRegistry {
  dumpTasks(): string;
  liveCounts(): { tasks: number; groups: number };
  /** Since corral 0.1's unreachable detection; an older copy has neither, and then nothing is marked. */
  collectUnreachable?(): Promise<void>;
  leakedCount?(): number;
}

/** Why a report was taken. */
export type ReportReason = 'exit' | 'signal' | 'request';

/** A report as the preload writes it to the file the CLI reads ("corral.run-report/v1"). */
export interface RunReport {
  schema: 'corral.run-report/v1';
  pid: number;
  /** Epoch milliseconds. */
  takenAt: number;
  /** 'exit': the program exited (its loop drained, or process.exit()); 'signal': a signal it had no handler for; 'request': SIGUSR2. */
  reason: ReportReason;
  exitCode?: number;
  signal?: string;
  /**
   * 'exit' only: the program's event loop had drained (`beforeExit` came), so every task still
   * pending was certainly stuck: nothing was left to settle it. False after `process.exit()`.
   */
  drained?: boolean;
  /** Whether this is the program's last report (not a SIGUSR2 snapshot). */
  final: boolean;
  /** Anything left: a corral task, a handle keeping the loop alive, an unclosed FileHandle. */
  leaked: boolean;
  /** `unreachable`: of `count`, the tasks found unreachable (collected by V8 while pending: they can never finish). */
  tasks: { count: number; groups: number; unreachable: number; dump: string };
  /** Handles keeping the loop alive, and FileHandles never closed. */
  handles: HandleInfo[];
  /** Resources Node counts as keeping the loop alive that no tracked handle accounts for. */
  unattributed: string[];
  /** The corral module whose registry was read (a file URL), if any. */
  corral: string | undefined;
}

/** Takes a report now. */
export function collectReport(
  registry: CorralRegistry | undefined,
  corralUrl: string | undefined,
  tracker: HandleTracker,
  reason: ReportReason,
  detail: { exitCode?: number; signal?: string; drained?: boolean },
): RunReport {
  const counts = registry?.liveCounts() ?? { tasks: 0, groups: 0 };
  // Leaked tasks stay listed for good, so the count since start is the count of listed ones.
  const unreachable = registry?.leakedCount?.() ?? 0;
  const handles = tracker.live().filter((h) => h.keepsAlive || h.type === 'FILEHANDLE');
  const report: RunReport = {
    schema: 'corral.run-report/v1',
    pid: process.pid,
    takenAt: Date.now(),
    reason,
    final: reason !== 'request',
    leaked: counts.tasks > 0 || handles.length > 0,
    tasks: { count: counts.tasks, groups: counts.groups, unreachable, dump: counts.tasks > 0 && registry !== undefined ? registry.dumpTasks() : '' },
    handles,
    unattributed: tracker.unattributed(),
    corral: corralUrl,
  };
  if (detail.exitCode !== undefined) report.exitCode = detail.exitCode;
  if (detail.signal !== undefined) report.signal = detail.signal;
  if (reason === 'exit') report.drained = detail.drained === true;
  return report;
}

/** The report as text for the terminal. */
export function formatReport(r: RunReport): string {
  const left: string[] = [];
  if (r.tasks.count > 0) left.push(taskWords(r));
  const alive = r.handles.filter((h) => h.keepsAlive).length;
  const files = r.handles.length - alive;
  if (alive > 0) left.push(`${plural(alive, 'handle')} keeping it alive`);
  if (files > 0) left.push(plural(files, 'unclosed FileHandle'));
  const what = left.length === 0 ? '' : join(left);
  let head: string;
  if (r.reason === 'exit') {
    const how = `the program exited with code ${r.exitCode ?? 0}`;
    head = what === '' ? `${how}; nothing was left running` : `${how}${r.drained === true ? ' when its event loop drained' : ''}, leaving ${what}`;
  }
  else if (r.reason === 'signal') head = `${r.signal} with no handler in the program: it stops now${what === '' ? '; nothing else was running' : `, leaving ${what}`}`;
  else head = `report requested with ${r.signal ?? 'SIGUSR2'}; the program keeps running${what === '' ? ' with nothing live' : ` with ${what}`}`;

  const out = [`corral run: ${head}`];
  if (r.tasks.count > 0) out.push('', r.tasks.dump.trimEnd());
  if (alive > 0) out.push('', `handles keeping the process alive: ${alive}`, '', formatHandles(r.handles.filter((h) => h.keepsAlive), r.takenAt).trimEnd());
  if (files > 0) out.push('', `FileHandles never closed: ${files}`, '', formatHandles(r.handles.filter((h) => !h.keepsAlive), r.takenAt).trimEnd());
  if (r.unattributed.length > 0) {
    const counts = new Map<string, number>();
    for (const n of r.unattributed) counts.set(n, (counts.get(n) ?? 0) + 1);
    out.push('', `also active, creation site unknown: ${[...counts].map(([n, c]) => (c === 1 ? n : `${n} x${c}`)).join(', ')}`);
  }
  return out.join('\n') + '\n';
}

/**
 * The tasks part of the headline. Unreachable ones can never finish, whatever the moment; at a
 * drained loop the others cannot either (nothing is left to settle them), and the report says so.
 */
function taskWords(r: RunReport): string {
  const n = r.tasks.count;
  const u = Math.min(r.tasks.unreachable ?? 0, n);
  if (r.reason === 'exit' && r.drained === true) {
    const parts: string[] = [];
    if (u > 0) parts.push(`${u} unreachable: collected while pending, ${u === 1 ? 'its' : 'their'} finally never ran`);
    if (n - u > 0) parts.push(`${n - u} still pending with nothing left to settle ${n - u === 1 ? 'it' : 'them'}`);
    return `${plural(n, 'corral task')} that can never finish (${parts.join('; ')})`;
  }
  return u === 0 ? plural(n, 'corral task') : `${plural(n, 'corral task')} (${u} unreachable: ${u === 1 ? 'it' : 'they'} can never finish)`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function join(parts: string[]): string {
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}
