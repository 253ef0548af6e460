/**
 * What the demo's end-to-end tests share: the demo as a child process (real process, real
 * sockets, loopback only), a keep-alive client that tells a response from each kind of failure,
 * seeded submissions, and read-only checks on the database.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** A temporary directory removed by `dispose()`. */
export function tempDir(prefix: string): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), `epro-${prefix}-`));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** The demo running in a child process. */
export interface DemoProcess {
  readonly child: ChildProcess;
  /** The API's port, once it listens. */
  port: number;
  /** The debug endpoint's base URL, when it is on (`--debug-port`). */
  debugUrl: string | undefined;
  stdout: string;
  stderr: string;
  /** Resolves when the process exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves when a stderr or stdout line matches (rejects if the process exits first or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  kill(sig: NodeJS.Signals): void;
}

/**
 * Starts the demo with `args` (and `--quiet` unless `verbose`), resolving once it listens, or
 * when it exits first (then `port` is 0). `--port 0 --debug-port off` come first, so `args`
 * can override them.
 */
export async function startDemo(args: string[], options: { env?: NodeJS.ProcessEnv; verbose?: boolean; expectListen?: boolean } = {}): Promise<DemoProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--port', '0', '--debug-port', 'off', ...(options.verbose ? [] : ['--quiet']), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  const poke = (): void => {
    for (const w of [...waiters]) {
      const m = (d.stdout + d.stderr).match(w.re);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      } else if (ended) {
        waiters.splice(waiters.indexOf(w), 1);
        w.reject(new Error(`the demo exited before printing ${w.re}\n--- stdout\n${d.stdout}\n--- stderr\n${d.stderr}`));
      }
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      ended = true;
      // stdio may still hold the last lines: let them in before anyone reads.
      setImmediate(() => {
        poke();
        resolve({ code, signal, at: performance.now() });
      });
    });
  });
  const d: DemoProcess = {
    child,
    port: 0,
    debugUrl: undefined,
    stdout: '',
    stderr: '',
    exited,
    waitFor(re, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${re} after ${ms} ms\n--- stdout\n${d.stdout}\n--- stderr\n${d.stderr}`)), ms);
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
        poke();
      });
    },
    kill(sig) {
      child.kill(sig);
    },
  };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    d.stdout += s;
    poke();
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    d.stderr += s;
    poke();
  });
  if (options.expectListen === false) return d;
  const m = await d.waitFor(/listening on http:\/\/[^:]+:(\d+)/);
  d.port = Number(m[1]);
  d.debugUrl = /debug endpoint \(127\.0\.0\.1 only\): (http:\/\/127\.0\.0\.1:\d+)/.exec(d.stdout)?.[1];
  return d;
}

/** The watchdog's status from the debug endpoint (samples taken so far, alerts standing). */
export async function watchdogStatus(debugUrl: string): Promise<{ samples: number; active: { rule: string }[] }> {
  const body = (await (await fetch(`${debugUrl}/debug/corral/watchdog`)).json()) as { status: { samples: number; active: { rule: string }[] } };
  return body.status;
}

/** The names of the live tasks, from the debug endpoint's JSON dump. */
export async function taskNames(debugUrl: string): Promise<string[]> {
  const body = (await (await fetch(`${debugUrl}/debug/corral/tasks?format=json`)).json()) as { tasks: { name: string }[] };
  return body.tasks.map((t) => t.name);
}

/** Live corral tasks by spawn site (the `site` label), from the debug endpoint's /metrics. */
export async function liveTasks(debugUrl: string): Promise<{ total: number; bySite: Map<string, number> }> {
  const text = await (await fetch(`${debugUrl}/metrics`)).text();
  const bySite = new Map<string, number>();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^corral_tasks_live\{site="([^"]*)"\} (\d+)$/.exec(line);
    if (m === null) continue;
    bySite.set(m[1] as string, Number(m[2]));
    total += Number(m[2]);
  }
  return { total, bySite };
}

/** What a request came to: an answer, or the error the client saw instead. */
export type Outcome =
  | { kind: 'answer'; status: number; body: any; headers: http.IncomingHttpHeaders }
  | { kind: 'error'; code: string; message: string };

/** A keep-alive client on `sockets` connections (one http.Agent), loopback only. */
export class Client {
  readonly agent: http.Agent;
  port: number;

  constructor(port: number, sockets: number) {
    this.port = port;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Outcome> {
    return new Promise((resolve) => {
      const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method,
          agent: this.agent,
          headers: { ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }), ...headers },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8').on('data', (c: string) => (data += c));
          res.on('end', () => {
            let parsed: unknown = data;
            try {
              parsed = JSON.parse(data);
            } catch {
              // not JSON: keep the text
            }
            resolve({ kind: 'answer', status: res.statusCode ?? 0, body: parsed, headers: res.headers });
          });
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ kind: 'error', code: e.code ?? 'ERR', message: e.message }));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'ETIMEDOUT_CLIENT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ kind: 'error', code: e.code ?? 'ERR', message: e.message }));
      req.end(text);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The simulators' seeded generator (mulberry32), for seeded schedules and submissions. */
export { rng } from '../src/sim-util.js';

const SYMPTOMS = ['Headache', 'tired', 'nausea', 'dizzy', 'something unusual', 'cough'];

/** A valid submission drawn from `rand`. */
export function randomSubmission(rand: () => number, i: number): Record<string, unknown> {
  const forms: [string, number, number][] = [
    ['phq-9', 9, 3],
    ['gad-7', 7, 3],
    ['nrs-pain', 1, 10],
  ];
  const [formId, items, max] = forms[Math.floor(rand() * forms.length)] as [string, number, number];
  const answers: Record<string, number> = {};
  for (let q = 1; q <= items; q++) answers[`q${q}`] = Math.floor(rand() * (max + 1));
  const symptoms = SYMPTOMS.filter(() => rand() < 0.3);
  return { patientId: `P-${String((i % 200) + 1).padStart(4, '0')}`, formId, answers, symptoms };
}

/** Read-only views of the demo's database, for invariants. */
export function readDb(path: string) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return {
      submissions: db.prepare('SELECT id, idempotency_key AS key, status, attempts FROM submissions ORDER BY id').all() as {
        id: number;
        key: string | null;
        status: string;
        attempts: number;
      }[],
      events: db.prepare('SELECT submission_id AS id, kind FROM submission_events ORDER BY id').all() as { id: number; kind: string }[],
    };
  } finally {
    db.close();
  }
}

/** Counts by status, read-only (the demo may be running: WAL lets a reader in). */
export function statusCounts(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, number> = { pending: 0, processed: 0, failed: 0 };
    for (const r of db.prepare('SELECT status, COUNT(*) AS n FROM submissions GROUP BY status').all() as { status: string; n: number }[]) out[r.status] = r.n;
    return out;
  } finally {
    db.close();
  }
}

/** The access log's lines (`--access-log`). */
export function readAccessLog(path: string): { method: string; path: string; status: number; answered: boolean; key?: string }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** Resolves after `ms` (for pacing a client's schedule, never to wait for an outcome). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `every` ms until it returns true; rejects with `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000, every = 50): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await delay(every);
  }
}
