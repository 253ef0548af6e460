/**
 * Abort listeners left on live signals: the listener a test (or a library it called) adds to a
 * long-lived `AbortSignal` (a server's, a shutdown controller's) and never removes stays there,
 * with everything its closure holds, for as long as the signal lives.
 *
 * While a check is open, `AbortSignal.prototype.addEventListener` and `removeEventListener` are
 * shadowed by wrappers that note each 'abort' listener with its site (formatted at once: an
 * unformatted V8 stack holds the frames' receivers alive, the signal among them). The signal and
 * the listener are held through WeakRefs only, so noting them keeps nothing alive, and a listener
 * on a signal that is gone or aborted is no leak. The wrappers stay installed once made and pass
 * straight through while no check is open.
 * @module
 */
import type { Entry } from '../registry.js';
import { ambientTask, currentScope, type Scope } from './scope.js';
import { formatStack, hasUserFrame } from './site.js';

interface ListenerRecord {
  seq: number;
  signal: WeakRef<AbortSignal>;
  listener: WeakRef<object>;
  capture: boolean;
  site: string | undefined;
  scope: Scope | undefined;
  /** The task whose code added it, when ambient tracking is on: tells background work's from the test's in a guard's window. */
  task: Entry | undefined;
  addedAt: number;
}

/** A listener left behind, as the checks report it. @internal */
export interface LeftListener {
  seq: number;
  scope: Scope | undefined;
  task: Entry | undefined;
  site: string | undefined;
  addedAt: number;
}

const bySignal = new WeakMap<AbortSignal, ListenerRecord[]>();
const records = new Set<ListenerRecord>();
let seq = 0;
let users = 0;
let installed = false;

function captureOf(options: unknown): boolean {
  if (typeof options === 'boolean') return options;
  return typeof options === 'object' && options !== null && (options as { capture?: unknown }).capture === true;
}

function install(): void {
  if (installed) return;
  installed = true;
  const proto = AbortSignal.prototype as AbortSignal & Record<string, unknown>;
  const add = EventTarget.prototype.addEventListener as (this: EventTarget, type: string, listener: unknown, options?: unknown) => void;
  const remove = EventTarget.prototype.removeEventListener as (this: EventTarget, type: string, listener: unknown, options?: unknown) => void;
  function addEventListener(this: AbortSignal, type: string, listener: unknown, options?: unknown): void {
    add.call(this, type, listener, options);
    if (users === 0 || type !== 'abort' || this.aborted) return;
    if (listener === null || (typeof listener !== 'object' && typeof listener !== 'function')) return;
    const capture = captureOf(options);
    let list = bySignal.get(this);
    // EventTarget ignores a listener added twice; so must the books.
    if (list?.some((r) => r.listener.deref() === listener && r.capture === capture)) return;
    const holder: { stack?: string } = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 20;
    Error.captureStackTrace(holder, addEventListener);
    Error.stackTraceLimit = limit;
    // A listener no frame of the user's code added is the runner's own (node:test adds one to each
    // test's signal) or Node's on nobody's nameable behalf: not the test's leak.
    if (!hasUserFrame(holder.stack)) return;
    const rec: ListenerRecord = {
      seq: ++seq,
      signal: new WeakRef(this),
      listener: new WeakRef(listener),
      capture,
      site: formatStack(holder.stack),
      scope: currentScope(),
      task: ambientTask(),
      addedAt: Date.now(),
    };
    if (list === undefined) bySignal.set(this, (list = []));
    list.push(rec);
    records.add(rec);
  }
  function removeEventListener(this: AbortSignal, type: string, listener: unknown, options?: unknown): void {
    remove.call(this, type, listener, options);
    if (type !== 'abort') return;
    const list = bySignal.get(this);
    if (list === undefined) return;
    const capture = captureOf(options);
    const i = list.findIndex((r) => r.listener.deref() === listener && r.capture === capture);
    if (i < 0) return;
    records.delete(list[i] as ListenerRecord);
    list.splice(i, 1);
  }
  Object.defineProperty(proto, 'addEventListener', { value: addEventListener, writable: true, configurable: true });
  Object.defineProperty(proto, 'removeEventListener', { value: removeEventListener, writable: true, configurable: true });
}

/** Starts noting listeners (for as long as any check is open). @internal */
export function retainListeners(): void {
  install();
  users++;
}

/** @internal */
export function releaseListeners(): void {
  users--;
}

/** The sequence number of the latest listener noted. @internal */
export function listenerSeq(): number {
  return seq;
}

/**
 * The listeners still on a signal that is alive and not aborted. Records of listeners that are
 * gone are dropped on the way.
 * @internal
 */
export function leftListeners(): LeftListener[] {
  const out: LeftListener[] = [];
  for (const r of records) {
    const signal = r.signal.deref();
    if (signal === undefined || signal.aborted || r.listener.deref() === undefined) {
      records.delete(r);
      continue;
    }
    out.push({ seq: r.seq, scope: r.scope, task: r.task, site: r.site, addedAt: r.addedAt });
  }
  return out;
}
