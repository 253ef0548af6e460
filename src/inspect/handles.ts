/**
 * Handle tracking: which timers, sockets, servers, child processes and watchers are open, and
 * where each was created. This is what keeps a Node process from exiting (or what a test forgot
 * to close); corral tasks are only half the story.
 *
 * It rides on `async_hooks`' `init` event only, and returns at once for promises: tracking
 * promises with stacks measured 55–533x slower, and even a `destroy` hook makes Node register a
 * weak callback per promise (a promise-only loop ran 9.6x slower with init + destroy, 2.7x with
 * init alone). Without `destroy`, a record learns that its resource closed by asking the resource
 * (`_destroyed` on timers, `hasRef()` turning undefined on a closed libuv handle, a negative `fd`
 * on a closed FileHandle) or by its WeakRef coming back empty; records of closed resources are
 * swept when the table doubles. The tracker holds resources through WeakRefs only, and formats a
 * stack as soon as it captures one: an unformatted V8 stack holds the receiver of every frame
 * (the Timeout itself, among others), which would keep them all alive.
 * @module
 */
import { createHook, executionAsyncId, type AsyncHook } from 'node:async_hooks';
import net from 'node:net';
import { basename } from 'node:path';
import { formatAge } from '../registry.js';
import { userFrames } from '../stack.js';
import { describe } from '../validate.js';

/**
 * The async_hooks resource types tracked by default: libuv handles, timers and immediates,
 * worker threads and message ports, and FileHandles (which do not keep the process alive, but
 * leak a file descriptor when never closed). Requests (a pending fs or dns call) are short-lived
 * and left out; `process.getActiveResourcesInfo()` still counts them, see
 * {@link HandleTracker.unattributed}.
 */
export const HANDLE_TYPES: readonly string[] = Object.freeze([
  'Timeout',
  'Immediate',
  'TCPWRAP',
  'TCPSERVERWRAP',
  'PIPEWRAP',
  'PIPESERVERWRAP',
  'PROCESSWRAP',
  'FSEVENTWRAP',
  'STATWATCHER',
  'UDPWRAP',
  'SIGNALWRAP',
  'TTYWRAP',
  'FILEHANDLE',
  'WORKER',
  'MESSAGEPORT',
]);

/** One open resource, as plain data. */
export interface HandleInfo {
  /** Increases with every resource a tracker sees: compare with {@link HandleTracker.mark}. */
  seq: number;
  /** The async_hooks type: 'Timeout', 'TCPWRAP', 'TCPSERVERWRAP', 'PROCESSWRAP', 'FSEVENTWRAP', ... */
  type: string;
  asyncId: number;
  /** What it is, when that is cheap to tell: 'setInterval 1000 ms', 'socket 127.0.0.1:5432', 'server :3000'. */
  description: string;
  /**
   * Where it was created, as "at ..." lines: Node's internals and corral's own frames hidden (all
   * frames when that would leave none). A server's is where `listen()` was called; a connection a
   * server accepted has its server's. Undefined when sites are off.
   */
  site: string | undefined;
  /** The resource's own `hasRef()`, when it has one: false means it does not hold the process open. */
  hasRef?: boolean;
  /**
   * Whether it keeps the event loop alive: ref'd, and for the process's stdio streams only while
   * they read (stdout and stderr are ref'd handles that never hold the loop open by themselves).
   */
  keepsAlive: boolean;
  /** Epoch milliseconds when it was created. */
  createdAt: number;
}

/** Options for {@link trackHandles}. */
export interface TrackHandlesOptions {
  /** The async_hooks types to track. Default {@link HANDLE_TYPES}. */
  types?: Iterable<string>;
  /** Frames kept per creation site, 1 to 100. Default 8. */
  stackDepth?: number;
  /**
   * Capture creation sites. Default true. A capture costs roughly 10–20 µs per handle (V8 walks and
   * formats the stack), paid by every `setTimeout` while tracking; false keeps only types and
   * descriptions.
   */
  sites?: boolean;
}

/** Options for {@link HandleTracker.live}. */
export interface LiveHandlesOptions {
  /** Only handles created after this {@link HandleTracker.mark}. */
  since?: number;
}

/** What {@link trackHandles} returns. */
export interface HandleTracker {
  /**
   * The tracked resources still open, oldest first. Works after {@link stop} too, on what was
   * tracked until then.
   */
  live(options?: LiveHandlesOptions): HandleInfo[];
  /** The `seq` of the latest handle seen so far: pass it to `live({ since })` later for "created since". */
  mark(): number;
  /**
   * The handles `process.getActiveResourcesInfo()` lists as holding the loop open that no live
   * tracked handle accounts for, one name per handle ('TCPSocketWrap', 'Timeout', ...): those
   * created before tracking began. Pending requests ('FSReqCallback', 'CloseReq', ...) are left
   * out: they end by themselves.
   */
  unattributed(): string[];
  /** Stops tracking new resources. Idempotent. */
  stop(): void;
}

interface HandleRecord {
  seq: number;
  type: string;
  asyncId: number;
  triggerId: number;
  /** The raw V8 stack, formatted at capture (see the module comment for why not later). */
  stack: string | undefined;
  ref: WeakRef<object>;
  createdAt: number;
}

// The names process.getActiveResourcesInfo() gives the resources of each async_hooks type
// (the C++ MemoryInfoName), so the two views can be reconciled.
const ACTIVE_NAMES: Readonly<Record<string, string>> = {
  Timeout: 'Timeout',
  Immediate: 'Immediate',
  TCPWRAP: 'TCPSocketWrap',
  TCPSERVERWRAP: 'TCPServerWrap',
  PIPEWRAP: 'PipeWrap',
  PIPESERVERWRAP: 'PipeWrap',
  PROCESSWRAP: 'ProcessWrap',
  FSEVENTWRAP: 'FSEventWrap',
  STATWATCHER: 'StatWatcher',
  UDPWRAP: 'UDPWrap',
  SIGNALWRAP: 'SignalWrap',
  TTYWRAP: 'TTYWrap',
  MESSAGEPORT: 'MessagePort',
};

const HANDLE_NAMES = new Set(Object.values(ACTIVE_NAMES));

// Frames the V8 stack of an init event shows above the code that created the resource: Node's
// own frames between a public API and the native constructor (an http.get is 8 of them). Captured
// on top of the frames kept, then filtered out.
const INTERNAL_FRAMES = 12;

/**
 * trackHandles starts recording every handle-like resource created from now on (timers, sockets,
 * servers, child processes, watchers, ...) with its creation site, and returns a tracker to list
 * the ones still open. Promises are never tracked. Costs while it runs: one async_hooks `init`
 * call per async resource (which on Node 20 makes every promise creation call into JavaScript:
 * a promise-only loop ran 2.7x slower), plus a stack capture per tracked handle; nothing once
 * stopped. Meant for `corral run` and leak checks in tests, not for production.
 *
 * @throws RangeError when `stackDepth` is not an integer from 1 to 100; TypeError for an unknown
 * option or a `types` that is not iterable.
 * @example
 * ```ts
 * const tracker = trackHandles();
 * const before = tracker.mark();
 * await runTheCodeUnderTest();
 * const left = tracker.live({ since: before }).filter((h) => h.keepsAlive);
 * tracker.stop();
 * if (left.length > 0) throw new Error(`left open:\n${formatHandles(left)}`);
 * ```
 */
export function trackHandles(options: TrackHandlesOptions = {}): HandleTracker {
  const { types, depth, sites } = checkOptions(options);
  const records = new Map<number, HandleRecord>();
  let seq = 0;
  let sweepAt = 1024;
  let stopped = false;

  const init = (asyncId: number, type: string, triggerId: number, resource: object): void => {
    // Promises first and cheapest: this hook sees every one of them.
    if (type === 'PROMISE' || !types.has(type)) return;
    let stack: string | undefined;
    if (sites) {
      const holder: { stack?: string } = {};
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = depth + INTERNAL_FRAMES;
      try {
        Error.captureStackTrace(holder, init);
        stack = holder.stack;
      } catch {
        // A user's Error.prepareStackTrace that throws: no site, rather than an exception thrown
        // from an async hook, which Node treats as fatal.
      } finally {
        Error.stackTraceLimit = limit;
      }
    }
    records.set(asyncId, { seq: ++seq, type, asyncId, triggerId, stack, ref: new WeakRef(resource), createdAt: Date.now() });
    if (records.size >= sweepAt) {
      // Amortized O(1) per record: a sweep visits n records after at least n/2 new ones.
      for (const [id, r] of records) if (!isOpen(r)) records.delete(id);
      sweepAt = Math.max(1024, records.size * 2);
    }
  };
  const hook: AsyncHook = createHook({ init });
  hook.enable();
  if (sites) listenSites.retain();

  function live(opts: LiveHandlesOptions = {}): HandleInfo[] {
    const since = opts.since ?? 0;
    if (!Number.isInteger(since) || since < 0) {
      throw new RangeError(`HandleTracker.live: since must be a mark() value (got ${String(opts.since)})`);
    }
    const out: HandleInfo[] = [];
    for (const r of records.values()) {
      if (r.seq <= since) continue;
      const resource = r.ref.deref() as Resource | undefined;
      if (resource === undefined || !isOpen(r, resource)) continue;
      out.push(describeRecord(r, resource, records, depth));
    }
    return out;
  }

  return {
    live,
    mark: () => seq,
    unattributed(): string[] {
      const counts = new Map<string, number>();
      for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
      for (const r of records.values()) {
        const name = ACTIVE_NAMES[r.type];
        const resource = r.ref.deref() as Resource | undefined;
        if (name === undefined || resource === undefined || !isOpen(r, resource)) continue;
        // getActiveResourcesInfo() lists every ref'd handle, stdio included, whether or not it is active.
        if (refOf(resource) !== true) continue;
        const n = counts.get(name) ?? 0;
        if (n > 0) counts.set(name, n - 1);
      }
      const out: string[] = [];
      for (const [name, n] of counts) if (HANDLE_NAMES.has(name)) for (let i = 0; i < n; i++) out.push(name);
      return out;
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      hook.disable();
      if (sites) listenSites.release();
    },
  };
}

function checkOptions(options: TrackHandlesOptions): { types: Set<string>; depth: number; sites: boolean } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`trackHandles: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (k !== 'types' && k !== 'stackDepth' && k !== 'sites') throw new TypeError(`trackHandles: unknown option ${JSON.stringify(k)}`);
  }
  const depth = options.stackDepth ?? 8;
  if (!Number.isInteger(depth) || depth < 1 || depth > 100) {
    throw new RangeError(`trackHandles: stackDepth must be an integer from 1 to 100 (got ${describe(options.stackDepth)})`);
  }
  const t = options.types ?? HANDLE_TYPES;
  if (typeof t !== 'object' || t === null || typeof (t as Iterable<string>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`trackHandles: types must be an iterable of async_hooks type names (got ${describe(t)})`);
  }
  const types = new Set<string>();
  for (const name of t as Iterable<unknown>) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`trackHandles: types must hold async_hooks type names such as "Timeout" (got ${describe(name)})`);
    types.add(name);
  }
  const sites = options.sites ?? true;
  if (typeof sites !== 'boolean') throw new TypeError(`trackHandles: sites must be a boolean (got ${describe(sites)})`);
  return { types, depth, sites };
}

// --- the resources --------------------------------------------------------------------------------

/** The parts of Node's resource objects read here: timers' fields, libuv handle wraps' methods. */
interface Resource {
  hasRef?: () => boolean | undefined;
  _destroyed?: boolean;
  _idleTimeout?: number;
  _repeat?: number | null;
  fd?: number;
  pid?: number;
  reading?: boolean;
  getsockname?: (out: Record<string, unknown>) => number;
  getpeername?: (out: Record<string, unknown>) => number;
  [key: symbol]: unknown;
}

/** The owner (net.Socket, net.Server, ChildProcess, FSWatcher, ...) a handle wrap points back to. */
interface Owner {
  fd?: number;
  server?: object;
  spawnfile?: string;
  threadId?: number;
  _pipeName?: string;
  _handle?: unknown;
}

// Node links a handle wrap to its JavaScript owner with an internal symbol; found on first use.
let ownerSymbol: symbol | undefined;
function ownerOf(type: string, r: Resource): Owner | undefined {
  if (type === 'Timeout' || type === 'Immediate' || type === 'FILEHANDLE') return undefined;
  if (ownerSymbol === undefined) {
    ownerSymbol = Object.getOwnPropertySymbols(r).find((s) => s.description === 'owner_symbol');
    if (ownerSymbol === undefined) return undefined;
  }
  const o = r[ownerSymbol];
  return typeof o === 'object' && o !== null ? (o as Owner) : undefined;
}

function refOf(r: Resource): boolean | undefined {
  if (typeof r.hasRef !== 'function') return undefined;
  const v = r.hasRef();
  return typeof v === 'boolean' ? v : undefined;
}

/** Whether a tracked resource is still open. */
function isOpen(rec: HandleRecord, r = rec.ref.deref() as Resource | undefined): boolean {
  if (r === undefined) return false;
  switch (rec.type) {
    case 'Timeout':
      // A one-shot timer whose callback is running now (a process.exit() inside it) will not run again.
      if (r._destroyed === true || r._idleTimeout === -1) return false;
      return r._repeat != null || rec.asyncId !== executionAsyncId();
    case 'Immediate':
      return r._destroyed !== true;
    case 'FILEHANDLE':
      return typeof r.fd === 'number' && r.fd >= 0;
    default: {
      // A socket, server, child process or watcher drops its wrap (`_handle = null`) when it
      // closes it, a loop turn before libuv has finished closing it.
      const owner = ownerOf(rec.type, r);
      if (owner !== undefined && '_handle' in owner && owner._handle !== r) return false;
      // A libuv handle wrap answers hasRef() with a boolean until it is closed, then with nothing.
      if (typeof r.hasRef === 'function') return typeof r.hasRef() === 'boolean';
      return true;
    }
  }
}

function keepsAlive(type: string, r: Resource, owner: Owner | undefined): boolean {
  if (type === 'FILEHANDLE') return false;
  if (refOf(r) !== true) return false;
  // stdout and stderr are ref'd handles that never hold the loop open by themselves; stdin does
  // while something reads it.
  if (owner !== undefined && typeof owner.fd === 'number' && owner.fd >= 0 && owner.fd <= 2) return r.reading === true;
  return true;
}

function describeRecord(rec: HandleRecord, r: Resource, records: Map<number, HandleRecord>, depth: number): HandleInfo {
  const owner = ownerOf(rec.type, r);
  let site = rec.stack === undefined ? undefined : userFrames(rec.stack, depth);
  // A server's handle is created a tick after listen() (after a lookup of its host), where no user
  // frame is left on the stack; a connection it accepted is created by libuv with no stack at all.
  if (site !== undefined && site.userFrames === 0) {
    const listened = listenSites.of(rec.type === 'TCPSERVERWRAP' || rec.type === 'PIPESERVERWRAP' ? owner : owner?.server);
    if (listened !== undefined) site = userFrames(listened, depth);
    else {
      const trigger = records.get(rec.triggerId);
      if (trigger?.stack !== undefined) site = userFrames(trigger.stack, depth);
    }
  }
  const info: HandleInfo = {
    seq: rec.seq,
    type: rec.type,
    asyncId: rec.asyncId,
    description: describeResource(rec.type, r, owner),
    site: site?.text,
    keepsAlive: keepsAlive(rec.type, r, owner),
    createdAt: rec.createdAt,
  };
  const ref = refOf(r);
  if (ref !== undefined) info.hasRef = ref;
  return info;
}

function address(r: Resource, which: 'getsockname' | 'getpeername'): string | undefined {
  const fn = r[which];
  if (typeof fn !== 'function') return undefined;
  const out: Record<string, unknown> = {};
  try {
    if (fn.call(r, out) !== 0 || typeof out.port !== 'number') return undefined;
  } catch {
    return undefined;
  }
  const host = typeof out.address === 'string' ? out.address : '';
  if (host === '0.0.0.0' || host === '::') return `:${out.port}`;
  return host.includes(':') ? `[${host}]:${out.port}` : `${host}:${out.port}`;
}

function serverAddress(server: object | undefined): string | undefined {
  if (!(server instanceof net.Server)) return undefined;
  const a = server.address();
  if (typeof a === 'string') return a;
  if (a === null) return undefined;
  if (a.address === '0.0.0.0' || a.address === '::') return `:${a.port}`;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** A short, data-free description: addresses, ports, fds, delays, a program's name, never arguments. */
function describeResource(type: string, r: Resource, owner: Owner | undefined): string {
  switch (type) {
    case 'Timeout': {
      const ms = r._repeat ?? r._idleTimeout;
      return `${r._repeat != null ? 'setInterval' : 'setTimeout'} ${ms ?? '?'} ms`;
    }
    case 'Immediate':
      return 'setImmediate';
    case 'TCPWRAP': {
      const peer = address(r, 'getpeername');
      const srv = serverAddress(owner?.server);
      if (srv !== undefined) return `connection${peer === undefined ? '' : ` from ${peer}`} on server ${srv}`;
      return peer === undefined ? 'socket (not connected)' : `socket ${peer}`;
    }
    case 'TCPSERVERWRAP': {
      const a = address(r, 'getsockname');
      return a === undefined ? 'server (not listening)' : `server ${a}`;
    }
    case 'PIPEWRAP': {
      if (owner?.fd === 0 || owner?.fd === 1 || owner?.fd === 2) return `stdio pipe fd ${owner.fd}`;
      const srv = serverAddress(owner?.server);
      if (srv !== undefined) return `connection on server ${srv}`;
      return typeof r.fd === 'number' && r.fd >= 0 ? `pipe fd ${r.fd}` : 'pipe';
    }
    case 'PIPESERVERWRAP':
      return `server ${serverAddress(owner as object | undefined) ?? owner?._pipeName ?? '(pipe)'}`;
    case 'PROCESSWRAP': {
      const name = typeof owner?.spawnfile === 'string' ? ` ${basename(owner.spawnfile)}` : '';
      return `child process${name}${typeof r.pid === 'number' ? ` pid ${r.pid}` : ''}`;
    }
    case 'FSEVENTWRAP':
      return 'fs.watch watcher';
    case 'STATWATCHER':
      return 'fs.watchFile watcher';
    case 'UDPWRAP': {
      const a = address(r, 'getsockname');
      return a === undefined ? 'udp socket' : `udp socket ${a}`;
    }
    case 'SIGNALWRAP':
      return 'signal listener';
    case 'TTYWRAP':
      return typeof owner?.fd === 'number' ? `tty fd ${owner.fd}` : 'tty';
    case 'FILEHANDLE':
      return `file handle fd ${r.fd ?? '?'}`;
    case 'WORKER':
      return typeof owner?.threadId === 'number' ? `worker thread ${owner.threadId}` : 'worker thread';
    case 'MESSAGEPORT':
      return 'message port';
    default:
      return type;
  }
}

// --- creation sites -------------------------------------------------------------------------------

/**
 * Where `listen()` was called, per server: the one creation site the init event cannot see (see
 * describeRecord). `net.Server.prototype.listen` is wrapped while a tracker with sites runs; the
 * wrapper stays installed (passing straight through) if something else wrapped it after us, so
 * that nobody's wrapper is unwound from under them.
 */
const listenSites = (() => {
  const sites = new WeakMap<object, string>();
  const original = net.Server.prototype.listen;
  let users = 0;
  function listen(this: net.Server, ...args: unknown[]): net.Server {
    if (users > 0) {
      const holder: { stack?: string } = {};
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 100;
      Error.captureStackTrace(holder, listen);
      Error.stackTraceLimit = limit;
      if (holder.stack !== undefined) sites.set(this, holder.stack);
    }
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  }
  return {
    retain(): void {
      if (users++ === 0 && net.Server.prototype.listen === original) net.Server.prototype.listen = listen as typeof original;
    },
    release(): void {
      if (--users === 0 && net.Server.prototype.listen === (listen as typeof original)) net.Server.prototype.listen = original;
    },
    of(server: object | undefined): string | undefined {
      return server === undefined ? undefined : sites.get(server);
    },
  };
})();

// --- text -----------------------------------------------------------------------------------------

/**
 * formatHandles renders handles grouped by type, description and creation site, the largest group
 * first, like a task dump:
 *
 * ```text
 * 2 Timeout "setInterval 1000 ms" [keeps the process alive, oldest 12s]
 *     at startPolling (file:///srv/app/poll.js:12:3)
 * ```
 *
 * @example
 * ```ts
 * process.stderr.write(formatHandles(tracker.live().filter((h) => h.keepsAlive)));
 * ```
 */
export function formatHandles(handles: readonly HandleInfo[], now = Date.now()): string {
  interface Bucket {
    h: HandleInfo;
    count: number;
    oldest: number;
  }
  const buckets = new Map<string, Bucket>();
  for (const h of handles) {
    const key = `${h.type}\u0000${h.description}\u0000${h.keepsAlive}\u0000${h.site ?? ''}`;
    const b = buckets.get(key);
    if (b === undefined) buckets.set(key, { h, count: 1, oldest: h.createdAt });
    else {
      b.count++;
      if (h.createdAt < b.oldest) b.oldest = h.createdAt;
    }
  }
  const sorted = [...buckets.values()].sort((a, b) => b.count - a.count || a.oldest - b.oldest);
  const lines: string[] = [];
  for (const { h, count, oldest } of sorted) {
    if (lines.length > 0) lines.push('');
    const alive = h.keepsAlive ? 'keeps the process alive' : 'does not keep the process alive';
    lines.push(`${count} ${h.type} ${JSON.stringify(h.description)} [${alive}, oldest ${formatAge(now - oldest)}]`);
    if (h.site === undefined) lines.push('    (creation site not captured)');
    else for (const f of h.site.split('\n')) lines.push(`    ${f}`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
