// Channel throughput: corral's Channel against a bare promise-resolver hand-off (the lower bound
// for any promise-based channel), a minimal 40-line channel, and `medium` and `async-channel` from
// npm, side by side in one process; then the cost of corral's `select` over ready channels.
//
//   node bench/channel.mjs            full size (1,000,000 messages, 1,000,000 selects)
//   node bench/channel.mjs --tiny     CI size (10,000, barely warmed up: a smoke test, not a measurement)
//
// Scenarios (every variant's two tasks run under a corral Group, registry on, spawnSites off):
//   - ping-pong: two tasks, two unbuffered channels; A sends a ping, B receives it and sends a
//     pong back, A receives it. N messages = N/2 pings + N/2 pongs.
//   - stream: a producer sends 0..N-1, a consumer receives N values (unbuffered, and capacity 64).
// corral runs twice: `send(v)`/`recv()` as in the issue, and `send(v, ctx)`/`recv(ctx)` with the
// task's context (what the docs recommend: the wait is cancellable and the registry shows the
// task as 'waiting: chan send/receive'; without a ctx, and with ambient tracking off, a wait is
// attributed to no task).
// Every receiving side sums what it received and the sum is checked, so no variant can skip work.
// Each sample is one scenario of N messages, timed with performance.now() after a full GC (not
// with --tiny); the variants run in turn, round after round, and the tables show the medians.
// "paired %" and the verdicts use each round's own ratio (the variants of a round ran back to
// back), then the median over rounds: on this noisy VM a disturbance lasting a few seconds skews
// one variant's median but moves both sides of a round's ratio.
import asyncChannel from 'async-channel';
import medium from 'medium';
import { Channel, Group, background, configure, select } from 'corral';
import { TINY, fmt, gc, int, median, pairedMedian, rounds, table, writeResults } from './lib/harness.mjs';

const N = TINY ? 10_000 : 1_000_000;
const SELECTS = TINY ? 10_000 : 1_000_000;
const WARMUP = TINY ? 1 : 2;
const RUNS = TINY ? 5 : 15;

configure({ spawnSites: 'off' });

const RESOLVED = Promise.resolve();

/**
 * The bare promise-resolver hand-off: one receiver parks its resolver and the sender calls it (or
 * the sender parks, unbuffered, until a receiver comes). One sender, one receiver, no close, no
 * queues, no result objects: the least any promise-based channel can do per message.
 * With `cap > 0`, up to `cap` values wait in a fixed ring before the sender parks.
 */
class HandOff {
  constructor(cap = 0) {
    this.cap = cap;
    this.ring = new Array(cap).fill(undefined); // a fixed ring of `cap` slots
    this.head = 0;
    this.count = 0;
    this.recvResolve = null;
    this.sendResolve = null;
    this.sendValue = undefined;
  }
  send(v) {
    const r = this.recvResolve;
    if (r !== null) {
      this.recvResolve = null;
      r(v);
      return RESOLVED;
    }
    if (this.count < this.cap) {
      this.ring[(this.head + this.count++) % this.cap] = v;
      return RESOLVED;
    }
    this.sendValue = v;
    return new Promise((resolve) => (this.sendResolve = resolve));
  }
  recv() {
    if (this.count > 0) {
      const v = this.ring[this.head];
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.cap;
      this.count--;
      const s = this.sendResolve;
      if (s !== null) {
        // A slot freed: the parked sender's value moves in at the tail.
        this.sendResolve = null;
        this.ring[(this.head + this.count++) % this.cap] = this.sendValue;
        this.sendValue = undefined;
        s();
      }
      return Promise.resolve(v);
    }
    const s = this.sendResolve;
    if (s !== null) {
      this.sendResolve = null;
      const v = this.sendValue;
      this.sendValue = undefined;
      s();
      return Promise.resolve(v);
    }
    return new Promise((resolve) => (this.recvResolve = resolve));
  }
}

/** A minimal general channel (any number of senders and receivers, close, `{ value, ok }`): ~40 lines. */
class MiniChannel {
  constructor(cap = 0) {
    this.cap = cap;
    this.buf = [];
    this.recvq = [];
    this.sendq = [];
    this.closed = false;
  }
  send(value) {
    if (this.closed) return Promise.reject(new Error('send on closed channel'));
    if (this.recvq.length > 0) {
      this.recvq.shift()({ value, ok: true });
      return RESOLVED;
    }
    if (this.buf.length < this.cap) {
      this.buf.push(value);
      return RESOLVED;
    }
    return new Promise((resolve, reject) => this.sendq.push({ value, resolve, reject }));
  }
  recv() {
    if (this.buf.length > 0) {
      const value = this.buf.shift();
      if (this.sendq.length > 0) {
        const s = this.sendq.shift();
        this.buf.push(s.value);
        s.resolve();
      }
      return Promise.resolve({ value, ok: true });
    }
    if (this.sendq.length > 0) {
      const s = this.sendq.shift();
      s.resolve();
      return Promise.resolve({ value: s.value, ok: true });
    }
    if (this.closed) return Promise.resolve({ value: undefined, ok: false });
    return new Promise((resolve) => this.recvq.push(resolve));
  }
  close() {
    this.closed = true;
    for (const r of this.recvq.splice(0)) r({ value: undefined, ok: false });
    for (const s of this.sendq.splice(0)) s.reject(new Error('send on closed channel'));
  }
}

// Every variant has its own loops (not one loop over an adapter), so each call site sees one
// channel class and no variant pays for another's shapes.
const expectedSum = (n) => (n * (n - 1)) / 2;
const pingPongSum = (n) => 2 * expectedSum(n / 2);

/** Runs `a` and `b` as the two tasks of a fresh Group; returns the milliseconds and checks the sum. */
function scenario(make, expected) {
  return async (n) => {
    const t0 = performance.now();
    const { a, b, result } = make(n);
    const g = new Group(background());
    g.go(a);
    g.go(b);
    await g.wait();
    const ms = performance.now() - t0;
    const got = result();
    if (got !== expected(n)) throw new Error(`wrong sum: ${got}, expected ${expected(n)}`);
    return ms;
  };
}

const PING_PONG = {
  'bare hand-off': (n) => {
    const ping = new HandOff();
    const pong = new HandOff();
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n / 2; i++) {
          await ping.send(i);
          const v = await pong.recv();
          sum += v;
        }
      },
      b: async () => {
        for (let i = 0; i < n / 2; i++) {
          const v = await ping.recv();
          sum += v;
          await pong.send(v);
        }
      },
      result: () => sum,
    };
  },
  'minimal 40-line channel': (n) => {
    const ping = new MiniChannel();
    const pong = new MiniChannel();
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n / 2; i++) {
          await ping.send(i);
          const { value } = await pong.recv();
          sum += value;
        }
      },
      b: async () => {
        for (let i = 0; i < n / 2; i++) {
          const { value } = await ping.recv();
          sum += value;
          await pong.send(value);
        }
      },
      result: () => sum,
    };
  },
  'corral Channel': (n) => {
    const ping = new Channel();
    const pong = new Channel();
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n / 2; i++) {
          await ping.send(i);
          const { value } = await pong.recv();
          sum += value;
        }
      },
      b: async () => {
        for (let i = 0; i < n / 2; i++) {
          const { value } = await ping.recv();
          sum += value;
          await pong.send(value);
        }
      },
      result: () => sum,
    };
  },
  'corral Channel, ctx passed': (n) => {
    const ping = new Channel();
    const pong = new Channel();
    let sum = 0;
    return {
      a: async (ctx) => {
        for (let i = 0; i < n / 2; i++) {
          await ping.send(i, ctx);
          const { value } = await pong.recv(ctx);
          sum += value;
        }
      },
      b: async (ctx) => {
        for (let i = 0; i < n / 2; i++) {
          const { value } = await ping.recv(ctx);
          sum += value;
          await pong.send(value, ctx);
        }
      },
      result: () => sum,
    };
  },
  medium: (n) => {
    const ping = medium.chan();
    const pong = medium.chan();
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n / 2; i++) {
          await medium.put(ping, i);
          const v = await medium.take(pong);
          sum += v;
        }
      },
      b: async () => {
        for (let i = 0; i < n / 2; i++) {
          const v = await medium.take(ping);
          sum += v;
          await medium.put(pong, v);
        }
      },
      result: () => sum,
    };
  },
  'async-channel': (n) => {
    const ping = new asyncChannel.Channel();
    const pong = new asyncChannel.Channel();
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n / 2; i++) {
          await ping.push(i);
          const v = await pong.get();
          sum += v;
        }
      },
      b: async () => {
        for (let i = 0; i < n / 2; i++) {
          const v = await ping.get();
          sum += v;
          await pong.push(v);
        }
      },
      result: () => sum,
    };
  },
};

const STREAM = (cap) => ({
  'bare hand-off': (n) => {
    const ch = new HandOff(cap);
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n; i++) await ch.send(i);
      },
      b: async () => {
        for (let i = 0; i < n; i++) {
          const v = await ch.recv();
          sum += v;
        }
      },
      result: () => sum,
    };
  },
  'minimal 40-line channel': (n) => {
    const ch = new MiniChannel(cap);
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n; i++) await ch.send(i);
      },
      b: async () => {
        for (let i = 0; i < n; i++) {
          const { value } = await ch.recv();
          sum += value;
        }
      },
      result: () => sum,
    };
  },
  'corral Channel': (n) => {
    const ch = new Channel(cap);
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n; i++) await ch.send(i);
      },
      b: async () => {
        for (let i = 0; i < n; i++) {
          const { value } = await ch.recv();
          sum += value;
        }
      },
      result: () => sum,
    };
  },
  'corral Channel, ctx passed': (n) => {
    const ch = new Channel(cap);
    let sum = 0;
    return {
      a: async (ctx) => {
        for (let i = 0; i < n; i++) await ch.send(i, ctx);
      },
      b: async (ctx) => {
        for (let i = 0; i < n; i++) {
          const { value } = await ch.recv(ctx);
          sum += value;
        }
      },
      result: () => sum,
    };
  },
  medium: (n) => {
    const ch = cap === 0 ? medium.chan() : medium.chan(cap);
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n; i++) await medium.put(ch, i);
      },
      b: async () => {
        for (let i = 0; i < n; i++) {
          const v = await medium.take(ch);
          sum += v;
        }
      },
      result: () => sum,
    };
  },
  'async-channel': (n) => {
    const ch = new asyncChannel.Channel(cap);
    let sum = 0;
    return {
      a: async () => {
        for (let i = 0; i < n; i++) await ch.push(i);
      },
      b: async () => {
        for (let i = 0; i < n; i++) {
          const v = await ch.get();
          sum += v;
        }
      },
      result: () => sum,
    };
  },
});

const ANCHOR = 'bare hand-off';
const PEERS = ['medium', 'async-channel'];
const SCENARIOS = [
  { key: 'pingpong', title: 'unbuffered ping-pong between two tasks', makers: PING_PONG, expected: pingPongSum },
  { key: 'stream0', title: 'producer -> consumer stream, unbuffered', makers: STREAM(0), expected: expectedSum },
  { key: 'stream64', title: 'producer -> consumer stream, capacity 64', makers: STREAM(64), expected: expectedSum },
];

const beforeEach = TINY ? undefined : gc;
const results = {};
const goals = [];

for (const s of SCENARIOS) {
  const vs = Object.entries(s.makers).map(([name, make]) => {
    const run = scenario(make, s.expected);
    return { name, run: () => run(N) };
  });
  const samples = await rounds(vs, { warmup: WARMUP, runs: RUNS, beforeEach });
  const med = new Map([...samples].map(([k, xs]) => [k, median(xs)]));
  const anchor = med.get(ANCHOR);
  const rows = [['variant', 'median ms', 'min ms', 'max ms', 'msg/s', 'x anchor (time)', '% of anchor msg/s', 'paired %']];
  const byName = {};
  for (const v of vs) {
    const xs = samples.get(v.name);
    const m = med.get(v.name);
    const paired = pairedMedian(samples, ANCHOR, v.name);
    byName[v.name] = { medianMs: m, samplesMs: xs, msgPerSec: (N / m) * 1000, ratioToAnchor: m / anchor, pairedShareOfAnchor: paired };
    rows.push([
      v.name,
      fmt(m),
      fmt(Math.min(...xs)),
      fmt(Math.max(...xs)),
      int((N / m) * 1000),
      fmt(m / anchor),
      `${fmt((anchor / m) * 100, 1)}%`,
      `${fmt(paired * 100, 1)}%`,
    ]);
  }
  console.log(`\n${s.title}: ${int(N)} messages (median of ${RUNS} runs after ${WARMUP} warm-up; anchor: ${ANCHOR})\n`);
  console.log(table(rows));

  // Verdicts use paired ratios (see pairedMedian): each round's variants ran back to back.
  const fastestPeer = [...PEERS].sort((x, y) => med.get(x) - med.get(y))[0];
  const g = [];
  for (const name of ['corral Channel', 'corral Channel, ctx passed']) {
    const vsPeer = Math.min(...PEERS.map((p) => pairedMedian(samples, p, name)));
    const share = pairedMedian(samples, ANCHOR, name);
    g.push(
      {
        goal: `${name} ahead of every npm peer (fastest: ${fastestPeer})`,
        value: vsPeer,
        unit: "x the best peer's msg/s (paired)",
        met: vsPeer > 1,
      },
      {
        goal: `${name} >= 85% of the bare hand-off msg/s`,
        value: share * 100,
        unit: '% (paired)',
        met: share >= 0.85,
      },
    );
  }
  console.log('');
  if (TINY) console.log('(--tiny: a smoke test; the goals apply to the full size)');
  for (const x of g) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${s.title}: ${x.goal}: ${fmt(x.value)} ${x.unit}`);
  goals.push({ scenario: s.key, goals: g });
  results[s.key] = { title: s.title, messages: N, warmup: WARMUP, runs: RUNS, variants: byName };
}

// select over k ready channels (corral only). Each channel has capacity 1 and holds a value; after
// each select the chosen channel is refilled with trySend, so every case is ready every time.
// The reference row does the same with `await ch.recv()` on one ready channel, so the select's own
// cost is the difference.
function selectLoop(k) {
  return async () => {
    const chans = Array.from({ length: k }, () => new Channel(1));
    for (const ch of chans) ch.trySend(0);
    const cases = chans.map((ch) => ch.recvCase());
    let sum = 0;
    const t0 = performance.now();
    const g = new Group(background());
    g.go(async () => {
      for (let i = 0; i < SELECTS; i++) {
        const r = await select(cases);
        sum += r.value;
        chans[r.index].trySend(i);
      }
    });
    await g.wait();
    const ms = performance.now() - t0;
    for (const ch of chans) sum += ch.tryRecv().value; // what is left: every value sent, received once
    if (sum !== expectedSum(SELECTS)) throw new Error('select: bad sum');
    return ms;
  };
}

function recvLoop() {
  return async () => {
    const ch = new Channel(1);
    ch.trySend(0);
    let sum = 0;
    const t0 = performance.now();
    const g = new Group(background());
    g.go(async () => {
      for (let i = 0; i < SELECTS; i++) {
        const { value } = await ch.recv();
        sum += value;
        ch.trySend(i);
      }
    });
    await g.wait();
    const ms = performance.now() - t0;
    if (sum !== expectedSum(SELECTS - 1)) throw new Error('recv: bad sum'); // the i-th receive took i - 1
    return ms;
  };
}

const SELECT_REF = 'recv on 1 ready channel (reference)';
const svs = [
  { name: SELECT_REF, run: recvLoop() },
  { name: 'select over 2 ready channels', run: selectLoop(2) },
  { name: 'select over 8 ready channels', run: selectLoop(8) },
];
const ssamples = await rounds(svs, { warmup: WARMUP, runs: RUNS, beforeEach });
const smed = new Map([...ssamples].map(([k, xs]) => [k, median(xs)]));
const srows = [['variant', 'median ms', 'min ms', 'max ms', 'µs per op', 'µs over recv']];
const selectByName = {};
for (const v of svs) {
  const xs = ssamples.get(v.name);
  const m = smed.get(v.name);
  const us = (m * 1000) / SELECTS;
  const over = ((m - smed.get(SELECT_REF)) * 1000) / SELECTS;
  selectByName[v.name] = { medianMs: m, samplesMs: xs, usPerOp: us, usOverRecv: over };
  srows.push([v.name, fmt(m), fmt(Math.min(...xs)), fmt(Math.max(...xs)), fmt(us, 3), v.name === SELECT_REF ? '-' : fmt(over, 3)]);
}
console.log(`\nselect over ready channels: ${int(SELECTS)} operations, each awaited, plus a trySend refill (median of ${RUNS} runs after ${WARMUP} warm-up)\n`);
console.log(table(srows));
console.log('\nGoal (issue 3): corral ahead of every npm peer on ping-pong and stream, and >= 85% of the bare hand-off; select: state the cost.');

const file = writeResults('channel', { messages: N, anchor: ANCHOR, results, goals, select: { operations: SELECTS, variants: selectByName } });
console.log(`\nresults: ${file}`);
