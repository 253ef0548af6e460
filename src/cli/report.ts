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
  /** Whether this is the program's last report (not a SIGUSR2 snapshot). */
  final: boolean;
  /** Anything left: a corral task, a handle keeping the loop alive, an unclosed FileHandle. */
  leaked: boolean;
  tasks: { count: number; groups: number; dump: string };
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
  detail: { exitCode?: number; signal?: string },
): RunReport {
  const counts = registry?.liveCounts() ?? { tasks: 0, groups: 0 };
  const handles = tracker.live().filter((h) => h.keepsAlive || h.type === 'FILEHANDLE');
  const report: RunReport = {
    schema: 'corral.run-report/v1',
    pid: process.pid,
    takenAt: Date.now(),
    reason,
    final: reason !== 'request',
    leaked: counts.tasks > 0 || handles.length > 0,
    tasks: { count: counts.tasks, groups: counts.groups, dump: counts.tasks > 0 && registry !== undefined ? registry.dumpTasks() : '' },
    handles,
    unattributed: tracker.unattributed(),
    corral: corralUrl,
  };
  if (detail.exitCode !== undefined) report.exitCode = detail.exitCode;
  if (detail.signal !== undefined) report.signal = detail.signal;
  return report;
}

/** The report as text for the terminal. */
export function formatReport(r: RunReport): string {
  const left: string[] = [];
  if (r.tasks.count > 0) left.push(plural(r.tasks.count, 'corral task'));
  const alive = r.handles.filter((h) => h.keepsAlive).length;
  const files = r.handles.length - alive;
  if (alive > 0) left.push(`${plural(alive, 'handle')} keeping it alive`);
  if (files > 0) left.push(plural(files, 'unclosed FileHandle'));
  const what = left.length === 0 ? '' : join(left);
  let head: string;
  if (r.reason === 'exit') head = `the program exited with code ${r.exitCode ?? 0}${what === '' ? '; nothing was left running' : `, leaving ${what}`}`;
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

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function join(parts: string[]): string {
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}
