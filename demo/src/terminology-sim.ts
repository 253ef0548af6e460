/**
 * A simulated external terminology service: codes free-text symptom terms, with a configurable
 * latency, share of errors (503) and share of calls that hang forever (no answer, connection
 * held open), the failure the seeds' ePRO story is about. It stands for a system outside the
 * service, so it is written on plain node:http, not on corral.
 *
 * Outcomes are drawn from a seeded generator, so a run replays exactly; tests set the rates to 0
 * or 1 for outcomes that do not depend on chance. It listens on loopback only.
 *
 * API: `POST /validate` `{ formId, terms: string[] }` → `{ terms: [{ text, code | null }] }`;
 * `GET /admin/stats`; `POST /admin/behaviour` `{ latencyMs?, errorRate?, hangRate? }`.
 * @module
 */
import type http from 'node:http';
import { badRequest, readSmallJson, rng, sendJson, serveSim, type Sim } from './sim-util.js';

/** How the simulated service behaves; every field can change at run time. */
export interface TerminologyBehaviour {
  /** Mean answer delay in ms (each call: 50% to 150% of it). */
  latencyMs: number;
  /** Share of calls answered 503, from 0 to 1. */
  errorRate: number;
  /** Share of calls never answered, from 0 to 1 (drawn before errors). */
  hangRate: number;
}

export interface TerminologyStats extends TerminologyBehaviour {
  calls: number;
  answered: number;
  errors: number;
  /** Calls hanging right now (the client has not given up on them yet). */
  hanging: number;
  /** Calls that were made to hang, in all. */
  hung: number;
}

/** The concepts the simulated terminology knows, by cleaned term (SNOMED CT-style identifiers). */
const CONCEPTS: ReadonlyMap<string, string> = new Map([
  ['headache', '25064002'],
  ['headaches', '25064002'],
  ['nausea', '422587007'],
  ['vomiting', '422400008'],
  ['fatigue', '84229001'],
  ['tired', '84229001'],
  ['tiredness', '84229001'],
  ['dizziness', '404640003'],
  ['dizzy', '404640003'],
  ['insomnia', '193462001'],
  ["can't sleep", '193462001'],
  ['cough', '49727002'],
  ['fever', '386661006'],
  ['pain', '22253000'],
  ['anxiety', '48694002'],
  ['shortness of breath', '267036007'],
  ['rash', '271807003'],
  ['diarrhea', '62315008'],
  ['diarrhoea', '62315008'],
  ['constipation', '14760008'],
]);

/** A running simulated terminology service; `close()` cuts hanging calls too. */
export type TerminologySim = Sim<TerminologyBehaviour, TerminologyStats>;

export interface TerminologySimOptions extends Partial<TerminologyBehaviour> {
  port?: number;
  host?: string;
  seed?: number;
}

/** Starts the simulated terminology service. */
export function startTerminologySim(options: TerminologySimOptions = {}): Promise<TerminologySim> {
  const b: TerminologyBehaviour = {
    latencyMs: options.latencyMs ?? 20,
    errorRate: options.errorRate ?? 0,
    hangRate: options.hangRate ?? 0,
  };
  const rand = rng(options.seed ?? 1);
  const counts = { calls: 0, answered: 0, errors: 0, hung: 0 };
  const hanging = new Set<http.ServerResponse>();
  const stats = (): TerminologyStats => ({ ...b, ...counts, hanging: hanging.size });

  return serveSim(options, b, checkBehaviour, stats, (req, res, url, later) => {
    if (req.method !== 'POST' || url.pathname !== '/validate') {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    void readSmallJson(req).then((r) => {
      if (r === undefined) return; // the client left before its body arrived
      if ('error' in r) return badRequest(req, res, r.error);
      const body = r.body;
      counts.calls++;
      const roll = rand();
      if (roll < b.hangRate) {
        counts.hung++;
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const fail = rand() < b.errorRate;
      later(() => {
        if (fail) {
          counts.errors++;
          sendJson(res, 503, { error: 'terminology service unavailable' });
          return;
        }
        counts.answered++;
        const terms = Array.isArray((body as { terms?: unknown }).terms) ? ((body as { terms: unknown[] }).terms as unknown[]) : [];
        sendJson(res, 200, {
          terms: terms.filter((t) => typeof t === 'string').map((text) => ({ text, code: CONCEPTS.get(text as string) ?? null })),
        });
      }, b.latencyMs * (0.5 + rand()));
    });
  });
}

function checkBehaviour(b: TerminologyBehaviour): void {
  if (!(Number.isFinite(b.latencyMs) && b.latencyMs >= 0)) throw new RangeError(`latencyMs must be a number >= 0 (got ${String(b.latencyMs)})`);
  for (const k of ['errorRate', 'hangRate'] as const) {
    if (!(typeof b[k] === 'number' && b[k] >= 0 && b[k] <= 1)) throw new RangeError(`${k} must be a number from 0 to 1 (got ${String(b[k])})`);
  }
}
