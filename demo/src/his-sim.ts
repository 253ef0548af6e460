/**
 * A simulated hospital information system (HIS): a patient list (ward assignments) that changes
 * over time, paged by a change cursor, with a configurable latency per page. The HIS sync pulls
 * from it. Like the terminology simulator it stands for an external system: plain node:http,
 * seeded, loopback only.
 *
 * API: `GET /patients?since=<cursor>&limit=<n>` → `{ patients: [{ patientId, ward, updatedAt }],
 * next: <cursor> | null }` (updatedAt is the change cursor); `GET /admin/stats` (requests, in
 * flight now, the most in flight at once: overlapping syncs show there); `POST /admin/behaviour`
 * `{ latencyMs?, churn? }`.
 * @module
 */
import { rng, sendJson, serveSim, type Sim } from './sim-util.js';

export interface HisBehaviour {
  /** Delay of each page, in ms. */
  latencyMs: number;
  /** Patients whose record changes before each page is served. */
  churn: number;
}

export interface HisStats extends HisBehaviour {
  requests: number;
  inFlight: number;
  maxInFlight: number;
  patients: number;
}

export type HisSim = Sim<HisBehaviour, HisStats>;

export interface HisSimOptions extends Partial<HisBehaviour> {
  port?: number;
  host?: string;
  seed?: number;
  /** How many patients the hospital has. Default 200. */
  patients?: number;
}

const WARDS = ['cardiology', 'oncology', 'neurology', 'psychiatry', 'general medicine'];
const MAX_PAGE = 500;

/** Starts the simulated HIS. */
export function startHisSim(options: HisSimOptions = {}): Promise<HisSim> {
  const b: HisBehaviour = { latencyMs: options.latencyMs ?? 50, churn: options.churn ?? 5 };
  const rand = rng(options.seed ?? 2);
  const n = options.patients ?? 200;
  // Records in change order: the array index is irrelevant, `updatedAt` is the cursor.
  let clock = 0;
  const records = Array.from({ length: n }, (_, i) => ({
    patientId: `P-${String(i + 1).padStart(4, '0')}`,
    ward: WARDS[i % WARDS.length] as string,
    updatedAt: ++clock,
  }));
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0 };

  return serveSim(options, b, checkBehaviour, () => ({ ...b, ...stats, patients: n }), (req, res, url, later) => {
    if (req.method !== 'GET' || url.pathname !== '/patients') {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    const since = Number(url.searchParams.get('since') ?? '0');
    const limit = Math.min(MAX_PAGE, Math.max(1, Number(url.searchParams.get('limit') ?? '100') || 100));
    stats.requests++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    let counted = true;
    const leave = (): void => {
      if (counted) stats.inFlight--;
      counted = false;
    };
    res.on('close', leave);
    // The hospital's data moves on between pages: some patients change ward.
    for (let i = 0; i < b.churn; i++) {
      const r = records[Math.floor(rand() * n)];
      if (r === undefined) continue;
      r.ward = WARDS[Math.floor(rand() * WARDS.length)] as string;
      r.updatedAt = ++clock;
    }
    const changed = records.filter((r) => r.updatedAt > since).sort((x, y) => x.updatedAt - y.updatedAt);
    const page = changed.slice(0, limit).map((r) => ({ ...r }));
    const next = changed.length > limit ? (page[page.length - 1]?.updatedAt ?? null) : null;
    later(() => sendJson(res, 200, { patients: page, next }), b.latencyMs);
  });
}

function checkBehaviour(b: HisBehaviour): void {
  if (!(Number.isFinite(b.latencyMs) && b.latencyMs >= 0)) throw new RangeError(`latencyMs must be a number >= 0 (got ${String(b.latencyMs)})`);
  if (!(Number.isInteger(b.churn) && b.churn >= 0)) throw new RangeError(`churn must be an integer >= 0 (got ${String(b.churn)})`);
}
