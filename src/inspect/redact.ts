/**
 * Label redaction for dumps: labels are the one place user data can reach a dump (names, states
 * and spawn sites are chosen by code), so every dump passes them through a redaction function:
 * the one given to the call, else the process-wide one set here, else none.
 * @module
 */
import { describe } from '../validate.js';

/**
 * Redactor decides what a dump shows of one label: the value to show (the original or a mask
 * such as `'***'`), or `undefined` to leave the label out. It sees the key and the value and
 * must not throw; a redactor that throws drops the label (fails closed).
 */
export type Redactor = (key: string, value: string) => string | undefined;

let processRedactor: Redactor | undefined;

/**
 * setRedaction sets the process-wide label redaction used by every dump that is not given its
 * own `redact`: {@link dump}, {@link groupTasks}, the debug endpoint and the signal dump.
 * `undefined` restores the default, which shows labels as they are. Returns the previous one.
 *
 * @throws TypeError when `fn` is neither a function nor undefined.
 * @example
 * ```ts
 * const shown = new Set(['study', 'site', 'queue']);
 * setRedaction((key, value) => (shown.has(key) ? value : undefined)); // an allowlist
 * ```
 */
export function setRedaction(fn: Redactor | undefined): Redactor | undefined {
  if (fn !== undefined && typeof fn !== 'function') {
    throw new TypeError(`setRedaction: fn must be a function or undefined (got ${describe(fn)})`);
  }
  const prev = processRedactor;
  processRedactor = fn;
  return prev;
}

/** The redactor a dump uses: its own, else the process-wide one (undefined: labels as they are). @internal */
export function redactorFor(own: Redactor | undefined): Redactor | undefined {
  return own ?? processRedactor;
}

/**
 * The labels as a dump shows them: a fresh object, with what `redact` keeps. Labels with a value
 * that is not a string (a caller that ignored the type) are shown as their String() form.
 * @internal
 */
export function redactLabels(labels: Readonly<Record<string, string>> | undefined, redact: Redactor | undefined): Record<string, string> {
  if (labels === undefined) return {};
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels)) {
    const raw = labels[key];
    const value = typeof raw === 'string' ? raw : String(raw);
    if (redact === undefined) {
      out[key] = value;
      continue;
    }
    let shown: unknown;
    try {
      shown = redact(key, value);
    } catch {
      // A broken redactor must not leak what it was meant to hide, nor break a dump taken in a
      // signal handler or an HTTP request: the label is left out.
      continue;
    }
    if (shown === undefined) continue;
    out[key] = typeof shown === 'string' ? shown : String(shown);
  }
  return out;
}

/** Whether a label set is empty, without allocating. @internal */
export function hasLabels(labels: Readonly<Record<string, string>> | undefined): boolean {
  if (labels === undefined) return false;
  for (const _ in labels) return true;
  return false;
}
