/**
 * The client of the terminology service: one call, bounded by the caller's context and a timeout
 * of its own, so a hanging service costs one timeout, never a task or a socket for good.
 * @module
 */
import { isTimeout, withTimeout, type Context } from 'corral';
import type { Coding } from './forms.js';

/** The terminology service answered something other than a coding. */
export class TerminologyError extends Error {
  readonly code = 'ERR_EPRO_TERMINOLOGY';
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'TerminologyError';
    this.status = status;
  }
}

/**
 * codeTerms asks the terminology service to code cleaned symptom terms. It stops when `ctx` ends
 * or after `timeoutMs` (the fetch is aborted, its connection released), rejecting with the
 * context's error; a non-2xx answer or a malformed body rejects with TerminologyError.
 * @example
 * ```ts
 * const coding = await codeTerms(ctx, 'http://127.0.0.1:4001', 'phq-9', ['headache'], 2_000);
 * ```
 */
export async function codeTerms(ctx: Context, baseUrl: string, formId: string, terms: string[], timeoutMs: number): Promise<Coding> {
  const { ctx: call, cancel } = withTimeout(ctx, timeoutMs);
  try {
    const res = await fetch(`${baseUrl}/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ formId, terms }),
      signal: call.signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new TerminologyError(`terminology service answered ${res.status}`, res.status);
    }
    const body = (await res.json()) as Coding;
    if (!Array.isArray(body?.terms)) throw new TerminologyError('terminology service sent a malformed coding', res.status);
    return body;
  } finally {
    cancel();
  }
}

/** A short reason for the store and the logs (never data): `terminology timeout`, `terminology 503`. */
export function failureReason(err: unknown): string {
  if (isTimeout(err)) return 'terminology timeout';
  if (err instanceof TerminologyError) return `terminology ${err.status}`;
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code === undefined ? 'terminology call failed' : `terminology unreachable (${code})`;
}
