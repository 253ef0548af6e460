// The demo's simulated external systems: what the end-to-end tests rely on them to do.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHisSim } from '../demo/src/his-sim.js';
import { startTerminologySim } from '../demo/src/terminology-sim.js';

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('the simulated terminology service', () => {
  test('codes known terms; errorRate 1 answers 503; the same seed replays the same outcomes', async () => {
    const sim = await startTerminologySim({ latencyMs: 1 });
    try {
      const ok = await post(`${sim.url}/validate`, { formId: 'phq-9', terms: ['headache', 'purple'] });
      assert.deepEqual(ok, { status: 200, body: { terms: [{ text: 'headache', code: '25064002' }, { text: 'purple', code: null }] } });
      sim.set({ errorRate: 1 });
      assert.equal((await post(`${sim.url}/validate`, { terms: [] })).status, 503);
      assert.deepEqual(
        { calls: sim.stats().calls, answered: sim.stats().answered, errors: sim.stats().errors },
        { calls: 2, answered: 1, errors: 1 },
      );
    } finally {
      await sim.close();
    }
    const outcomes = async (): Promise<number[]> => {
      const s = await startTerminologySim({ latencyMs: 1, errorRate: 0.5, seed: 42 });
      try {
        const got: number[] = [];
        for (let i = 0; i < 12; i++) got.push((await post(`${s.url}/validate`, { terms: [] })).status);
        return got;
      } finally {
        await s.close();
      }
    };
    const first = await outcomes();
    assert.deepEqual(await outcomes(), first, 'seeded: the run replays');
    assert.ok(first.includes(200) && first.includes(503), `both outcomes drawn: ${first}`);
  });

  test('a hanging call is held open and counted, and close() cuts it', async () => {
    const sim = await startTerminologySim({ hangRate: 1 });
    const call = fetch(`${sim.url}/validate`, { method: 'POST', body: '{"terms":[]}' }).then(
      () => 'answered',
      () => 'cut',
    );
    for (let i = 0; i < 200 && sim.stats().hanging === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(sim.stats().hanging, 1);
    assert.equal(sim.stats().hung, 1);
    await sim.close();
    assert.equal(await call, 'cut');
  });

  test('POST /admin/behaviour applies what is valid and answers 400 naming the bad field', async () => {
    const sim = await startTerminologySim();
    try {
      const bad = await post(`${sim.url}/admin/behaviour`, { hangRate: 2 });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /hangRate must be a number from 0 to 1/);
      assert.equal(sim.stats().hangRate, 0, 'nothing applied');
      const good = await post(`${sim.url}/admin/behaviour`, { latencyMs: 7, errorRate: 0.25 });
      assert.equal(good.status, 200);
      assert.deepEqual(good.body, { latencyMs: 7, errorRate: 0.25, hangRate: 0 });
      assert.equal(((await fetch(`${sim.url}/admin/stats`).then((r) => r.json())) as { errorRate: number }).errorRate, 0.25);
      assert.throws(() => sim.set({ latencyMs: -1 }), { name: 'RangeError', message: /latencyMs/ });
      assert.equal((await fetch(`${sim.url}/nope`)).status, 404);
      const malformed = await fetch(`${sim.url}/admin/behaviour`, { method: 'POST', body: '{"latencyMs":' });
      assert.deepEqual([malformed.status, await malformed.json()], [400, { error: 'malformed JSON' }]);
      const big = await fetch(`${sim.url}/validate`, { method: 'POST', body: JSON.stringify({ terms: ['x'.repeat(70_000)] }) });
      assert.deepEqual([big.status, await big.json()], [400, { error: 'body too large' }]);
      assert.equal(sim.stats().calls, 0, 'refused bodies are not calls');
    } finally {
      await sim.close();
    }
    await assert.rejects(startTerminologySim({ errorRate: -0.1 }), { name: 'RangeError', message: /errorRate/ });
  });
});

describe('the simulated HIS', () => {
  test('pages every patient once by change cursor, counts requests, and rejects a bad churn', async () => {
    const his = await startHisSim({ latencyMs: 1, churn: 0, patients: 25 });
    try {
      const seen = new Set<string>();
      let since = 0;
      for (let pages = 0; pages < 10; pages++) {
        const r = await fetch(`${his.url}/patients?since=${since}&limit=10`).then((x) => x.json() as Promise<{ patients: { patientId: string; updatedAt: number }[]; next: number | null }>);
        for (const p of r.patients) seen.add(p.patientId);
        if (r.next === null) break;
        since = r.next;
      }
      assert.equal(seen.size, 25);
      assert.deepEqual({ requests: his.stats().requests, inFlight: his.stats().inFlight }, { requests: 3, inFlight: 0 });
      const bad = await post(`${his.url}/admin/behaviour`, { churn: 1.5 });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /churn must be an integer/);
    } finally {
      await his.close();
    }
  });
});
