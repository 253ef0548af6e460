/**
 * A small command-line parser: `--flag value`, `--flag=value`, `-f value`, boolean flags, and
 * positionals. Anything it does not know is a UsageError naming the flag, never a silent default.
 * @module
 */
import { UsageError } from './errors.js';

/** One flag a command accepts. */
export interface FlagSpec {
  /** The long name, without dashes: 'format'. */
  name: string;
  /** A one-letter alias, without the dash: 'n'. */
  short?: string;
  /** 'boolean' flags take no value. */
  kind: 'string' | 'boolean' | 'integer';
}

/** Every command takes -h/--help. */
const HELP: FlagSpec = { name: 'help', short: 'h', kind: 'boolean' };

/** What {@link parseArgs} returns. */
export interface Parsed {
  flags: Map<string, string | number | boolean>;
  positionals: string[];
  /** With `stopAtPositional`: the first positional and everything after it, untouched. */
  rest: string[];
}

/**
 * Parses `argv` for `command` (which also takes -h/--help). With `stopAtPositional` (for `run`), parsing stops at `--` or at the
 * first positional, and the rest is returned as it was given.
 */
export function parseArgs(command: string, argv: readonly string[], commandSpecs: readonly FlagSpec[], stopAtPositional = false): Parsed {
  const specs = [...commandSpecs, HELP];
  const flags = new Map<string, string | number | boolean>();
  const positionals: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest = argv.slice(i + 1);
      if (!stopAtPositional) positionals.push(...rest);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtPositional) {
        rest = argv.slice(i);
        break;
      }
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const eq = arg.indexOf('=');
    const key = long ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, 2);
    const spec = specs.find((s) => (long ? s.name === key : s.short === key));
    if (spec === undefined) {
      throw new UsageError(`unknown option ${long ? `--${key}` : `-${key}`}`, command);
    }
    const shown = long ? `--${spec.name}` : `-${spec.short}`;
    let value: string | undefined;
    if (long && eq > 0) value = arg.slice(eq + 1);
    else if (!long && arg.length > 2) value = arg.slice(2);
    if (spec.kind === 'boolean') {
      if (value !== undefined) throw new UsageError(`${shown} takes no value (got ${JSON.stringify(value)})`, command);
      flags.set(spec.name, true);
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) throw new UsageError(`${shown} needs a value`, command);
      value = next;
      i++;
    }
    if (spec.kind === 'integer') {
      if (!/^\d+$/.test(value)) throw new UsageError(`${shown} must be a whole number (got ${JSON.stringify(value)})`, command);
      flags.set(spec.name, Number(value));
    } else flags.set(spec.name, value);
  }
  return { flags, positionals, rest };
}

/** A string flag that must be one of `allowed`. */
export function oneOf<T extends string>(command: string, flag: string, value: string | number | boolean | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(String(value))})`, command);
  }
  return value as T;
}
