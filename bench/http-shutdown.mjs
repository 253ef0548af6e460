// Graceful HTTP shutdown, side by side: corral's `serve().stop()` against plain `server.close()`,
// `server.close()` + `closeIdleConnections()`, http-terminator, stoppable, @godaddy/terminus and
// close-with-grace, on real sockets at 127.0.0.1 with keep-alive clients (issue 5, "Benchmarks").
//
//   node bench/http-shutdown.mjs           full size: 200 idle keep-alive connections, 50 in-flight
//                                          500 ms requests, 20 racing requests, 20 busy clients;
//                                          3 runs per variant and scenario (a few minutes)
//   node bench/http-shutdown.mjs --tiny    CI size (10 idle, 5 in flight for 100 ms, 4 racing, 3
//                                          busy; one run, every cell at once: a smoke test that every
//                                          variant still runs, not a measurement)
//   --runs=N  --only=corral,stoppable  --scenario=A,C
//
// Every server runs in a child process of its own (one per variant, scenario and run), so a
// variant that hangs is simply killed, and the variants that can only be triggered by a signal
// (terminus) or that end the process (close-with-grace calls process.exit) run like the others.
// The clients run here, in the parent, each logical connection an `http.Agent({ keepAlive: true,
// maxSockets: 1 })` of its own, so every request goes where it is meant to (its connection, or a
// new one when the agent may not reuse it: a response with `Connection: close`, a socket closed).
// The handler answers `/slow` after SLOW ms, `/busy` after BUSY_MS and `/fast` at once, and records the id of every
// request it ran: a client error on a request whose handler ran is "lost" (the work was done, the
// client thinks it failed: a retry runs it twice); a client error on a request whose handler never
// ran is "safe" (ECONNREFUSED, or a FIN or reset that crossed the request: retrying is harmless).
//
// One cell (variant x scenario x run):
//   1. the child listens on 127.0.0.1:0; every connection is opened and warmed with one /fast
//      request, so IDLE + INFLIGHT + RACING (+ BUSY) sockets sit idle in their agents;
//   2. scenario C: BUSY clients start sending /busy (answered after BUSY_MS = 10 ms) back to back,
//      each on its own connection (with instant answers a busy connection is almost never mid-request
//      when the trigger lands, and Node's close() then closes it as idle: no longer a busy client);
//   3. INFLIGHT /slow requests are sent; once the child has all of them in its handler, and
//      TRIGGER_AFTER ms later, the trigger: an IPC message that calls the variant's shutdown
//      (terminus: SIGTERM to the child, the only way to start it), and in the same tick RACING
//      /fast requests on idle connections (they race the trigger);
//   4. as soon as the child acknowledges the trigger (its shutdown call has returned), a new
//      connection is attempted with a /fast request;
//   5. scenario B: as soon as an in-flight response has ended, a follow-up /fast goes out on the
//      same agent (the same socket if the agent may keep it, else a new connection);
//   6. the cell ends when the variant says it is closed (its promise resolved or its callback ran,
//      written by the child with a wall-clock time) or at CAP ms after the trigger ("hung": the
//      child is killed, and requests that fail after that count as "killed", not against the
//      variant). A cell that hung is not run again.
// Times are wall-clock (`performance.timeOrigin + performance.now()`), comparable across the two
// processes. "close ms" runs from the trigger (sent by the parent) to closed; "after last
// in-flight" from the parent receiving the last in-flight response to closed.
//
// Variants (the same grace G everywhere one is taken, longer than any request here, so nothing
// should need forcing):
//   corral        serve(handler, { shutdownTimeout: G, health: false }); stop()
//   close()       http.createServer; server.close(cb)
//   close()+idle  server.close(cb); server.closeIdleConnections() (Node 20's close() already
//                 closes the idle connections once: a control that the two rows agree)
//   terminator    http-terminator createHttpTerminator({ server, gracefulTerminationTimeout: G }).terminate()
//   stoppable     stoppable(server, G).stop(cb)
//   terminus      createTerminus(server, { signals: ['SIGTERM'], timeout: G, onSignal }); SIGTERM
//                 (closed = its onSignal, which runs once its stoppable stop is over)
//   cwg           close-with-grace({ delay: G }, async () => await server.close()) and its
//                 programmatic close(); it calls process.exit(1) if the delay passes first
// Every server has Node's default keepAliveTimeout (5 s; --tiny 2 s, the least a node:http client
// still reuses a connection at, since it keeps a 1 s margin under the server's Keep-Alive hint).
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TINY, arg, fmt, median, table, writeResults } from './lib/harness.mjs';

const SELF = fileURLToPath(import.meta.url);

const CFG = TINY
  ? { idle: 10, inflight: 5, slowMs: 300, racing: 4, busy: 3, busyMs: 10, graceMs: 1_000, capMs: 4_000, keepAliveMs: 2_000, triggerAfterMs: 30 }
  : { idle: 200, inflight: 50, slowMs: 500, racing: 20, busy: 20, busyMs: 10, graceMs: 5_000, capMs: 10_000, keepAliveMs: 5_000, triggerAfterMs: 100 };
if (arg('cap', undefined) !== undefined) CFG.capMs = Number(arg('cap'));
const RUNS = TINY ? 1 : Number(arg('runs', '3'));
const CLOSE_GOAL_MS = 20;

const VARIANTS = [
  { key: 'corral', name: 'corral serve().stop()' },
  { key: 'close', name: 'server.close()', noGrace: true },
  { key: 'close-idle', name: 'close() + closeIdleConnections()', noGrace: true },
  { key: 'terminator', name: 'http-terminator 3.2.0' },
  { key: 'stoppable', name: 'stoppable 1.1.0' },
  { key: 'terminus', name: '@godaddy/terminus 4.12.1 (SIGTERM)', signal: true },
  { key: 'cwg', name: 'close-with-grace 2.5.0' },
];
const SCENARIOS = [
  { key: 'A', title: 'A: idle keep-alive connections + in-flight requests' },
  { key: 'B', title: 'B: A + one follow-up request per in-flight connection, sent when its response ends', followUps: true },
  { key: 'C', title: 'C: A + busy keep-alive clients sending back to back', busy: true },
];

const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server (child process) ---------------------------------------------------------------------

async function serverChild(key, cfg) {
  const out = (m) => writeSync(1, JSON.stringify(m) + '\n'); // synchronous: survives process.exit
  const ran = [];
  let slow = 0;
  const handler = (req, res) => {
    const url = req.url;
    const i = url.indexOf('id=');
    ran.push(i === -1 ? -1 : Number(url.slice(i + 3)));
    if (url.startsWith('/slow')) {
      if (++slow === cfg.inflight) out({ type: 'inflight', t: wall() });
      setTimeout(() => res.end('slow'), cfg.slowMs);
    } else if (url.startsWith('/busy')) {
      setTimeout(() => res.end('busy'), cfg.busyMs);
    } else {
      res.end('ok');
    }
  };
  const report = () => out({ type: 'report', ran });
  let closedOnce = false;
  const closed = (info = {}) => {
    if (closedOnce) return;
    closedOnce = true;
    out({ type: 'closed', t: wall(), ...info });
  };
  const listen = (server) =>
    new Promise((resolve, reject) => {
      server.keepAliveTimeout = cfg.keepAliveMs;
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });

  let stop;
  let port;
  switch (key) {
    case 'corral': {
      const { serve } = await import('corral/http');
      const svc = serve(handler, { host: '127.0.0.1', port: 0, shutdownTimeout: cfg.graceMs, health: false });
      svc.server.keepAliveTimeout = cfg.keepAliveMs;
      await svc.start();
      port = svc.port;
      stop = () => svc.stop().then((r) => closed({ graceful: r.graceful, report: { ...r, forced: r.forced.length } }));
      break;
    }
    case 'close': {
      const server = http.createServer(handler);
      port = await listen(server);
      stop = () => server.close(() => closed());
      break;
    }
    case 'close-idle': {
      const server = http.createServer(handler);
      port = await listen(server);
      stop = () => {
        server.close(() => closed());
        server.closeIdleConnections();
      };
      break;
    }
    case 'terminator': {
      const { createHttpTerminator } = await import('http-terminator');
      const server = http.createServer(handler);
      const terminator = createHttpTerminator({ server, gracefulTerminationTimeout: cfg.graceMs });
      port = await listen(server);
      stop = () => terminator.terminate().then(() => closed());
      break;
    }
    case 'stoppable': {
      const { default: stoppable } = await import('stoppable');
      const server = stoppable(http.createServer(handler), cfg.graceMs);
      port = await listen(server);
      stop = () => server.stop((_e, graceful) => closed({ graceful }));
      break;
    }
    case 'terminus': {
      const { createTerminus } = await import('@godaddy/terminus');
      const server = http.createServer(handler);
      // After onSignal and onShutdown, terminus re-sends the signal to the process; our own
      // listener below keeps it alive so the parent can collect the report and kill it.
      createTerminus(server, { signals: ['SIGTERM'], timeout: cfg.graceMs, onSignal: async () => closed() });
      port = await listen(server);
      let acked = false;
      process.on('SIGTERM', () => {
        if (!acked) out({ type: 'triggered', t: wall() });
        acked = true;
      });
      break;
    }
    case 'cwg': {
      const { default: closeWithGrace } = await import('close-with-grace');
      const server = http.createServer(handler);
      port = await listen(server);
      const cwg = closeWithGrace(
        {
          delay: cfg.graceMs,
          logger: false,
          onTimeout: () => {
            closed({ exitedAtDelay: true });
            report();
          },
        },
        async () => {
          await new Promise((resolve) => server.close(resolve));
          closed();
          report();
        },
      );
      stop = () => cwg.close(); // then process.exit(0), or process.exit(1) at the delay
      break;
    }
    default:
      throw new Error(`unknown variant ${key}`);
  }
  process.on('message', (m) => {
    if (m.cmd === 'stop') {
      stop();
      out({ type: 'triggered', t: wall() });
    } else if (m.cmd === 'report') {
      report();
    }
  });
  out({ type: 'ready', port });
}

// --- the clients (parent) ---------------------------------------------------------------------------

/** What a failed request saw: ECONNREFUSED, a FIN before any response (EOF), or a reset. */
function errorKind(err) {
  if (err.code === 'ECONNREFUSED') return 'refused';
  if (err.message === 'socket hang up') return 'EOF';
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'RST';
  return err.code ?? err.message;
}

class Cell {
  constructor(variant, scenario, cfg) {
    this.variant = variant;
    this.scenario = scenario;
    this.cfg = cfg;
    this.nextId = 1;
    this.over = false;
    this.tKill = Infinity;
    this.agents = [];
  }

  conn() {
    const c = { agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), fin: undefined, rst: undefined, seen: new WeakSet() };
    this.agents.push(c.agent);
    return c;
  }

  /** Watches how each of a connection's sockets ends: a FIN ('end') or a reset ('error'). */
  watch(c, s) {
    if (c.seen.has(s)) return;
    c.seen.add(s);
    c.sock = s;
    s.once('end', () => (c.fin ??= wall()));
    s.on('error', () => (c.rst ??= wall()));
  }

  /** One request on connection `c` (or on a fresh connection when `c` is null). Never rejects. */
  request(c, path) {
    const id = this.nextId++;
    const t0 = wall();
    return new Promise((resolve) => {
      let connected = false;
      const done = (o) => {
        if (o.t === undefined) o.t = wall();
        o.id = id;
        o.t0 = t0;
        o.connected = connected;
        resolve(o);
      };
      const req = http.request({ host: '127.0.0.1', port: this.port, path: `${path}?id=${id}`, agent: c === null ? false : c.agent });
      req.on('socket', (s) => {
        if (c !== null) this.watch(c, s);
        if (!s.connecting) connected = true;
        else s.once('connect', () => (connected = true));
      });
      req.on('response', (res) => {
        const close = res.headers.connection === 'close';
        res.on('error', (err) => done({ ok: false, kind: errorKind(err) }));
        res.on('aborted', () => done({ ok: false, kind: 'aborted' }));
        res.on('end', () => done({ ok: res.statusCode === 200, status: res.statusCode, close, kind: res.statusCode === 200 ? 'served' : `status ${res.statusCode}` }));
        res.resume();
      });
      req.on('error', (err) => done({ ok: false, kind: errorKind(err) }));
      req.end();
    });
  }

  async run() {
    const { cfg, scenario, variant } = this;
    const child = spawn(process.execPath, [SELF, `--server=${variant.key}`, `--cfg=${JSON.stringify(cfg)}`], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let exited = false;
    const exitP = new Promise((resolve) => child.once('exit', () => resolve((exited = true))));
    const arrived = new Map();
    const waiting = new Map();
    createInterface({ input: child.stdout }).on('line', (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      if (arrived.has(m.type)) return;
      arrived.set(m.type, m);
      waiting.get(m.type)?.(m);
    });
    const msg = (type, ms) =>
      arrived.has(type)
        ? Promise.resolve(arrived.get(type))
        : new Promise((resolve) => {
            const timer = setTimeout(() => resolve(null), Math.max(0, ms));
            waiting.set(type, (m) => {
              clearTimeout(timer);
              resolve(m);
            });
          });
    const send = (m) => {
      if (!exited && child.connected) child.send(m);
    };

    try {
      const ready = await msg('ready', 10_000);
      if (ready === null) throw new Error(`${variant.key}: the server did not start`);
      this.port = ready.port;

      const idle = Array.from({ length: cfg.idle }, () => this.conn());
      const inflight = Array.from({ length: cfg.inflight }, () => this.conn());
      const racing = Array.from({ length: cfg.racing }, () => this.conn());
      const busy = scenario.busy ? Array.from({ length: cfg.busy }, () => this.conn()) : [];
      const warm = await Promise.all([...idle, ...inflight, ...racing, ...busy].map((c) => this.request(c, '/fast')));
      const bad = warm.filter((o) => !o.ok);
      if (bad.length > 0) throw new Error(`${variant.key}: ${bad.length} warm-up requests failed (${bad[0].kind})`);

      const busyOut = [];
      const busyLoops = busy.map(async (c) => {
        while (!this.over) {
          const o = await this.request(c, '/busy');
          busyOut.push(o);
          if (!o.ok) return;
        }
      });

      const followOut = [];
      const followPs = [];
      const inflightOut = [];
      const inflightPs = inflight.map((c) =>
        this.request(c, '/slow').then((o) => {
          inflightOut.push(o);
          if (scenario.followUps && o.ok) followPs.push(this.request(c, '/fast').then((f) => followOut.push(f)));
        }),
      );
      if ((await msg('inflight', 10_000)) === null) throw new Error(`${variant.key}: the in-flight requests never all reached the handler`);
      await sleep(cfg.triggerAfterMs);

      // The trigger, and in the same tick the racing requests on idle connections.
      const tTrig = wall();
      if (variant.signal) child.kill('SIGTERM');
      else send({ cmd: 'stop' });
      const racingPs = racing.map((c) => this.request(c, '/fast'));

      // A new connection as soon as the shutdown call has returned.
      const newConnP = msg('triggered', cfg.capMs).then((ack) => (ack === null ? null : this.request(null, '/fast')));

      const closedMsg = await msg('closed', cfg.capMs - (wall() - tTrig));
      const hung = closedMsg === null;
      const tEnd = wall();
      send({ cmd: 'report' });
      const report = await msg('report', 2_000);
      if (!hung) {
        // Everything the server had is closed: the clients see it within moments.
        await Promise.race([Promise.all([...inflightPs, ...racingPs, newConnP, ...busyLoops]), sleep(1_500)]);
        await Promise.race([Promise.all(followPs), sleep(500)]);
      }
      this.over = true;
      this.tKill = wall();
      child.kill('SIGKILL');
      await exitP;
      // A hung server was just killed: whatever fails now counts as "killed", not against it.
      await Promise.race([Promise.all([...inflightPs, ...racingPs, newConnP, ...busyLoops, ...followPs]), sleep(2_000)]);
      await Promise.race([Promise.all(followPs), sleep(500)]);
      const racingOut = await Promise.all(racingPs.map((p) => Promise.race([p, sleep(0).then(() => ({ ok: false, kind: 'pending' }))])));
      const newConn = await Promise.race([newConnP, sleep(0).then(() => ({ ok: false, kind: 'pending' }))]);

      return this.summarize({ tTrig, tEnd, hung, closedMsg, ran: new Set(report?.ran ?? []), haveRan: report !== null, idle, inflightOut, racingOut, newConn, followOut, busyOut });
    } finally {
      this.over = true;
      for (const a of this.agents) a.destroy();
      if (!exited) {
        child.kill('SIGKILL');
        await exitP;
      }
    }
  }

  summarize(r) {
    const { cfg } = this;
    const closedAt = r.hung ? undefined : r.closedMsg.t;
    const fate = (o) => {
      if (o.ok) return 'served';
      if (o.t >= this.tKill) return 'killed';
      if (o.kind === 'refused') return 'refused';
      if (!r.haveRan) return 'failed (?)';
      return r.ran.has(o.id) ? 'lost' : 'safe';
    };
    const count = (xs, f) => xs.filter((o) => fate(o) === f).length;

    const served = r.inflightOut.filter((o) => o.ok);
    const lastInflight = served.length === cfg.inflight ? Math.max(...served.map((o) => o.t)) : undefined;
    const idleFin = r.idle.filter((c) => c.fin !== undefined && (c.rst === undefined || c.fin <= c.rst) && c.fin < (closedAt ?? this.tKill));
    const idleRst = r.idle.filter((c) => c.rst !== undefined && (c.fin === undefined || c.rst < c.fin) && c.rst < (closedAt ?? this.tKill));
    const afterTrig = r.busyOut.filter((o) => o.t >= r.tTrig);
    let outcome = 'closed';
    if (r.hung) outcome = 'hung';
    else if (r.closedMsg.exitedAtDelay) outcome = 'exit(1) at delay';
    else if (r.closedMsg.graceful === false || (!this.variant.noGrace && r.closedMsg.t - r.tTrig >= cfg.graceMs - 1)) outcome = 'forced at grace';

    const all = [...r.inflightOut, ...r.racingOut, ...r.followOut, ...afterTrig, ...(r.newConn ? [r.newConn] : [])];
    return {
      outcome,
      closeMs: closedAt === undefined ? undefined : closedAt - r.tTrig,
      afterLastInflightMs: closedAt === undefined || lastInflight === undefined ? undefined : closedAt - lastInflight,
      inflight: {
        served: served.length,
        endedBeforeTrigger: r.inflightOut.filter((o) => o.t < r.tTrig).length,
        connectionClose: served.filter((o) => o.close).length,
        safe: count(r.inflightOut, 'safe'),
        lost: count(r.inflightOut, 'lost'),
        killed: count(r.inflightOut, 'killed'),
      },
      idle: {
        fin: idleFin.length,
        rst: idleRst.length,
        open: cfg.idle - idleFin.length - idleRst.length,
        lastFinMs: idleFin.length === 0 ? undefined : Math.max(...idleFin.map((c) => c.fin)) - r.tTrig,
      },
      racing: {
        served: count(r.racingOut, 'served'),
        connectionClose: r.racingOut.filter((o) => o.ok && o.close).length,
        safe: count(r.racingOut, 'safe') + count(r.racingOut, 'refused'),
        lost: count(r.racingOut, 'lost'),
        other: r.racingOut.filter((o) => !['served', 'safe', 'refused', 'lost'].includes(fate(o))).length,
        kinds: tally(r.racingOut.map((o) => `${fate(o)}${o.ok ? '' : ` ${o.kind}`}`)),
      },
      newConnection: r.newConn === null ? 'not tried' : newConnFate(r.newConn, fate(r.newConn)),
      followUps: this.scenario.followUps
        ? {
            sent: r.followOut.length,
            served: count(r.followOut, 'served'),
            connectionClose: r.followOut.filter((o) => o.ok && o.close).length,
            refused: count(r.followOut, 'refused'),
            safe: count(r.followOut, 'safe'),
            lost: count(r.followOut, 'lost'),
            killed: count(r.followOut, 'killed'),
            kinds: tally(r.followOut.map((o) => `${fate(o)}${o.ok ? '' : ` ${o.kind}`}${o.connected ? '' : ' (new connection)'}`)),
          }
        : undefined,
      busy: this.scenario.busy
        ? {
            afterTrigger: afterTrig.length,
            served: count(afterTrig, 'served'),
            connectionClose: afterTrig.filter((o) => o.ok && o.close).length,
            refused: count(afterTrig, 'refused'),
            safe: count(afterTrig, 'safe'),
            lost: count(afterTrig, 'lost'),
            killed: count(afterTrig, 'killed'),
            kinds: tally(afterTrig.map((o) => `${fate(o)}${o.ok ? (o.close ? ' (close)' : '') : ` ${o.kind}`}${o.connected ? '' : ' (new connection)'}`)),
          }
        : undefined,
      lost: all.filter((o) => fate(o) === 'lost').length,
      childReport: r.closedMsg?.report,
    };
  }
}

function newConnFate(o, f) {
  if (o.ok) return o.close ? 'served (close)' : 'served';
  if (f === 'refused') return 'refused';
  if (f === 'killed' || o.kind === 'pending') return f === 'killed' ? 'killed' : 'pending';
  return `${o.connected ? 'accepted, ' : ''}${o.kind}${f === 'lost' ? ' (handler ran)' : ''}`;
}

function tally(xs) {
  const m = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}

// --- the report ---------------------------------------------------------------------------------------

/** "n" when every run agrees, else "min–max". */
function range(xs, digits = 0) {
  const ys = xs.filter((x) => x !== undefined);
  if (ys.length === 0) return '-';
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const f = (x) => (digits === 0 ? String(x) : fmt(x, digits));
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
}

function same(xs) {
  const u = [...new Set(xs)];
  return u.join(' / ');
}

function row(variant, runs, scenario) {
  const pick = (f) => runs.map(f);
  const closeMs = runs.map((r) => r.closeMs).filter((x) => x !== undefined);
  const cells = [
    variant.name,
    same(pick((r) => r.outcome)),
    closeMs.length === 0 ? `> ${int0(CFG.capMs)}` : `${fmt(median(closeMs), 1)}${closeMs.length < runs.length ? '*' : ''}`,
    range(pick((r) => r.afterLastInflightMs), 1),
    `${range(pick((r) => r.inflight.served))}/${CFG.inflight}`,
    range(pick((r) => r.inflight.connectionClose)),
    `${range(pick((r) => r.idle.fin))}/${range(pick((r) => r.idle.rst))}/${range(pick((r) => r.idle.open))}`,
    range(pick((r) => r.idle.lastFinMs), 1),
    `${range(pick((r) => r.racing.served))}/${range(pick((r) => r.racing.safe))}/${range(pick((r) => r.racing.lost))}`,
    same(pick((r) => r.newConnection)),
  ];
  if (scenario.followUps) {
    cells.push(
      `${range(pick((r) => r.followUps.served))}/${range(pick((r) => r.followUps.refused))}/${range(pick((r) => r.followUps.safe))}/${range(pick((r) => r.followUps.lost))}`,
    );
  }
  if (scenario.busy) {
    cells.push(
      `${range(pick((r) => r.busy.served))}/${range(pick((r) => r.busy.connectionClose))}/${range(pick((r) => r.busy.refused))}/${range(pick((r) => r.busy.safe))}/${range(pick((r) => r.busy.lost))}`,
    );
  }
  cells.push(range(pick((r) => r.lost)));
  return cells;
}

function int0(x) {
  return String(Math.round(x));
}

function header(scenario) {
  const h = [
    'variant',
    'outcome',
    'close ms',
    'after last in-flight ms',
    'in-flight served',
    'Conn: close',
    'idle FIN/RST/open',
    'last idle FIN ms',
    'racing served/safe/lost',
    'new connection',
  ];
  if (scenario.followUps) h.push('follow-ups served/refused/safe/lost');
  if (scenario.busy) h.push('busy served/close/refused/safe/lost');
  h.push('lost');
  return h;
}

/** corral's goal in one scenario: every run. */
function corralGoal(scenario, runs) {
  const checks = [];
  const allInflight = runs.every((r) => r.inflight.served === CFG.inflight);
  checks.push({ check: 'every in-flight request served', met: allInflight, value: range(runs.map((r) => r.inflight.served)) + `/${CFG.inflight}` });
  if (scenario.followUps) {
    const served = runs.every((r) => r.followUps.served === CFG.inflight);
    const notLost = runs.every((r) => r.followUps.lost === 0 && r.followUps.sent === CFG.inflight && r.followUps.served + r.followUps.refused + r.followUps.safe === CFG.inflight);
    // As the issue words it, this conflicts with its items 2 and 3: the in-flight answer carries
    // Connection: close, so a correct client sends its follow-up on a new connection, which a
    // server that stopped accepting refuses. Reported as written; the next line is what holds.
    checks.push({ check: 'every follow-up served (conflicts with items 2+3: after a Connection: close answer the follow-up needs a new connection, refused)', met: served, value: `${range(runs.map((r) => r.followUps.served))}/${CFG.inflight} served, ${range(runs.map((r) => r.followUps.refused))} refused, ${range(runs.map((r) => r.followUps.lost))} lost` });
    checks.push({ check: '(reading in the notes) no follow-up lost: served, or refused/never run (safe to retry)', met: notLost, value: '', note: true });
  }
  const racing = runs.every((r) => r.racing.served === CFG.racing);
  checks.push({ check: 'every request racing the trigger served', met: racing, value: range(runs.map((r) => r.racing.served)) + `/${CFG.racing}`, note: true });
  if (scenario.busy) {
    checks.push({ check: 'no busy client request lost', met: runs.every((r) => r.busy.lost === 0), value: `${range(runs.map((r) => r.busy.lost))} lost, ${range(runs.map((r) => r.busy.safe))} safe`, note: true });
  }
  checks.push({ check: 'none hung', met: runs.every((r) => r.outcome !== 'hung'), value: same(runs.map((r) => r.outcome)) });
  const after = runs.map((r) => r.afterLastInflightMs);
  checks.push({
    check: `closed within ${CLOSE_GOAL_MS} ms of the last in-flight response`,
    met: after.every((x) => x !== undefined && x <= CLOSE_GOAL_MS),
    value: `${range(after, 1)} ms`,
  });
  return checks;
}

// --- main ---------------------------------------------------------------------------------------------

async function main() {
  const only = arg('only', undefined)?.split(',');
  const onlyScen = arg('scenario', undefined)?.split(',');
  const variants = VARIANTS.filter((v) => only === undefined || only.includes(v.key));
  const scenarios = SCENARIOS.filter((s) => onlyScen === undefined || onlyScen.includes(s.key));
  console.log(
    `Graceful HTTP shutdown on 127.0.0.1: ${CFG.idle} idle keep-alive connections, ${CFG.inflight} in-flight ${CFG.slowMs} ms requests, ` +
      `${CFG.racing} requests racing the trigger, a new connection right after it; B adds a follow-up per in-flight connection, ` +
      `C ${CFG.busy} busy clients. Grace ${CFG.graceMs} ms, keepAliveTimeout ${CFG.keepAliveMs} ms, hung after ${CFG.capMs} ms. ` +
      `${RUNS} run(s) per cell${TINY ? ', every cell at once (--tiny: a smoke test, the figures mean nothing)' : ''}.`,
  );

  const results = {};
  const t0 = performance.now();
  if (TINY) {
    // Every cell at once: the tiny run only checks that each variant still runs and never hangs.
    const jobs = [];
    for (const s of scenarios) for (const v of variants) jobs.push(new Cell(v, s, CFG).run().then((r) => (((results[s.key] ??= {})[v.key] ??= []).push(r))));
    await Promise.all(jobs);
  } else {
    for (const s of scenarios) {
      results[s.key] = {};
      for (let run = 0; run < RUNS; run++) {
        for (const v of variants) {
          const prev = (results[s.key][v.key] ??= []);
          if (prev.some((r) => r.outcome === 'hung')) continue; // a hang is not worth another 10 s
          prev.push(await new Cell(v, s, CFG).run());
        }
      }
    }
  }
  const elapsed = (performance.now() - t0) / 1000;

  const goals = {};
  for (const s of scenarios) {
    console.log(`\n${s.title}\n`);
    const rows = [header(s)];
    for (const v of variants) rows.push(row(v, results[s.key][v.key], s));
    console.log(table(rows));
    for (const v of variants) {
      const late = results[s.key][v.key].filter((r) => r.inflight.endedBeforeTrigger > 0).length;
      if (late > 0) console.log(`warning: ${v.name}: in ${late} run(s) some in-flight responses ended before the trigger (a loaded machine): those runs measure less than intended`);
    }
    if (results[s.key].corral) goals[s.key] = corralGoal(s, results[s.key].corral);
  }
  console.log(
    `\nclose ms: median over runs (* some runs hung), trigger to closed; after last in-flight: closed minus the last in-flight response's arrival; ` +
      `a/b/c: min–max over runs where they differ. idle FIN/RST/open: how the ${CFG.idle} idle connections ended by the time the variant said closed. ` +
      `racing: requests sent on idle connections in the trigger's tick. follow-ups and busy: requests after the trigger; close: with Connection: close; ` +
      `refused: ECONNREFUSED on a new connection (the agent may not reuse the old one). safe: the client got an error and the handler never ran ` +
      `(refused, or a FIN/reset crossed the request: a retry is harmless); lost: the handler ran and the client got an error (EOF or reset).`,
  );
  if (goals.A || goals.B || goals.C) {
    console.log(`\nGoal for corral: every in-flight request and follow-up served, none hung, closed within ${CLOSE_GOAL_MS} ms of the last in-flight response, in every scenario${TINY ? ' (--tiny: a smoke test; the goal applies to the full size)' : ''}`);
    for (const [k, checks] of Object.entries(goals)) {
      for (const c of checks) console.log(`${TINY ? '-' : c.met ? 'MET    ' : 'NOT MET'}  ${k}: ${c.check}${c.value ? `: ${c.value}` : ''}`);
    }
    if (!TINY) {
      const strict = Object.values(goals).every((cs) => cs.filter((c) => !c.note).every((c) => c.met));
      console.log(`${strict ? 'MET    ' : 'NOT MET'}  the goal as written, every scenario`);
    }
  }
  console.log(`\n(${elapsed.toFixed(1)} s)`);
  const file = writeResults('http-shutdown', { config: { ...CFG, runs: RUNS }, variants, scenarios: scenarios.map((s) => s.key), results, goals, elapsedSec: elapsed });
  console.log(`results: ${file}`);
}

const serverKey = arg('server', undefined);
if (serverKey !== undefined) {
  await serverChild(serverKey, JSON.parse(arg('cfg', '{}')));
} else {
  await main();
}
