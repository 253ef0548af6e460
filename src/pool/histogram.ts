/**
 * A latency histogram with fixed buckets: O(1) to record, no allocation, approximate percentiles.
 * Bucket 0 holds 0 ms; bucket k (k >= 1) holds [2^(k-1), 2^k) ms, the last one everything above.
 * A percentile is reported as its bucket's upper bound (capped at the maximum seen), so it is
 * never below the true value and at most 2x above it.
 * @module
 */

const BUCKETS = 32;

/** Percentiles of recorded durations, in milliseconds. */
export interface LatencyStats {
  /** How many durations were recorded. */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  /** The largest duration recorded. */
  max: number;
}

/** @internal */
export class Histogram {
  private readonly _counts = new Array<number>(BUCKETS).fill(0);
  private _n = 0;
  private _max = 0;

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const k = v < 1 ? 0 : Math.min(BUCKETS - 1, 32 - Math.clz32(Math.floor(v)));
    (this._counts[k] as number)++;
    this._n++;
    if (v > this._max) this._max = v;
  }

  stats(): LatencyStats {
    return { count: this._n, p50: this._at(0.5), p90: this._at(0.9), p99: this._at(0.99), max: this._max };
  }

  private _at(q: number): number {
    if (this._n === 0) return 0;
    const rank = Math.ceil(q * this._n);
    let seen = 0;
    for (let k = 0; k < BUCKETS; k++) {
      seen += this._counts[k] as number;
      if (seen >= rank) return Math.min(k === 0 ? 0 : 2 ** k, this._max);
    }
    return this._max;
  }
}
