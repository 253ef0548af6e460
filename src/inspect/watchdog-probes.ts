/**
 * The Watchdog's readings of the process: event loop delay and utilisation, the heap after major
 * GCs, active handles, 'abort' listeners on long-lived signals, process warnings. The ones that
 * need a hook (a histogram, a GC observer, a 'warning' listener) hold it only between `start()`
 * and `stop()`; the others are read on demand.
 * @module
 */
import { getEventListeners } from 'node:events';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The code of the warnings the Watchdog itself emits; the 'warnings' rule never reports them. @internal */
export const OWN_WARNING = 'CORRAL_WATCHDOG';

/** Event loop delay (while started) and utilisation (always). @internal */
export class EventLoop {
  private _h: IntervalHistogram | undefined;
  private readonly _resolution: number;
  private _elu: EventLoopUtilization;

  constructor(resolution: number) {
    this._resolution = resolution;
    this._elu = performance.eventLoopUtilization();
  }

  start(): void {
    if (this._h !== undefined) return;
    // The histogram's timer is native and never keeps the process alive.
    this._h = monitorEventLoopDelay({ resolution: this._resolution });
    this._h.enable();
  }

  stop(): void {
    this._h?.disable();
    this._h = undefined;
  }

  /** The p99 of the delay since the last reading, in ms; undefined when not started or no data yet. */
  delayP99(): number | undefined {
    const h = this._h;
    if (h === undefined || h.count === 0) return undefined;
    const p99 = h.percentile(99) / 1e6;
    h.reset();
    return Math.round(p99 * 10) / 10;
  }

  /** The utilisation (0 to 1) since the last reading. */
  utilization(): number {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, this._elu).utilization;
    this._elu = now;
    return Math.round(u * 1000) / 1000;
  }
}

/**
 * The heap used just after major GCs, from a 'gc' PerformanceObserver while started. The observer
 * is called a little after the collection, so a reading includes what was allocated in between;
 * the lowest reading of each interval is kept, the closest to what the GC left.
 * @internal
 */
export class HeapAfterGc {
  private _obs: PerformanceObserver | undefined;
  private _low = Infinity;

  start(): void {
    if (this._obs !== undefined) return;
    this._obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
          const used = v8.getHeapStatistics().used_heap_size;
          if (used < this._low) this._low = used;
          return;
        }
      }
    });
    this._obs.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this._obs?.disconnect();
    this._obs = undefined;
    this._low = Infinity;
  }

  /** The lowest post-GC heap since the last call, or undefined when no major GC was seen. */
  take(): number | undefined {
    const low = this._low;
    this._low = Infinity;
    return low === Infinity ? undefined : low;
  }
}

/** Active handles and requests by type, as `process.getActiveResourcesInfo()` lists them. @internal */
export function activeResources(): { total: number; byType: Record<string, number> } {
  const list = process.getActiveResourcesInfo();
  const byType: Record<string, number> = {};
  for (const t of list) byType[t] = (byType[t] ?? 0) + 1;
  return { total: list.length, byType };
}

/** The 'abort' listeners on each watched signal. @internal */
export function abortListeners(signals: readonly AbortSignal[]): number[] {
  return signals.map((s) => getEventListeners(s, 'abort').length);
}

/** A warning, as the 'warnings' rule keeps it: its name or code, and its first line. */
interface Seen {
  count: number;
  message: string;
}

/** Process warnings emitted while started, counted by name (and code), until the next sample takes them. @internal */
export class Warnings {
  private readonly _ignore: ReadonlySet<string>;
  private _seen = new Map<string, Seen>();
  private _total = 0;
  private _listening = false;
  private readonly _on: (w: Error & { code?: string }) => void;

  constructor(ignore: ReadonlySet<string>) {
    this._ignore = ignore;
    this._on = (w) => {
      const code = w.code;
      if (code === OWN_WARNING || this._ignore.has(w.name) || (code !== undefined && this._ignore.has(code))) return;
      const key = code === undefined ? w.name : `${w.name} (${code})`;
      let s = this._seen.get(key);
      if (s === undefined) {
        // Bounded: a process emitting endless distinct warnings is reported, not mirrored.
        if (this._seen.size >= 20) return void this._total++;
        const first = String(w.message).split('\n', 1)[0] ?? '';
        s = { count: 0, message: first.length > 160 ? `${first.slice(0, 157)}...` : first };
        this._seen.set(key, s);
      }
      s.count++;
      this._total++;
    };
  }

  start(): void {
    if (this._listening) return;
    this._listening = true;
    this._seen = new Map();
    this._total = 0;
    process.on('warning', this._on);
  }

  stop(): void {
    if (!this._listening) return;
    this._listening = false;
    process.removeListener('warning', this._on);
  }

  /** The warnings since the last call. */
  take(): { total: number; byName: Map<string, Seen> } {
    const out = { total: this._total, byName: this._seen };
    this._seen = new Map();
    this._total = 0;
    return out;
  }
}
