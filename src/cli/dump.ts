/**
 * `corral dump URL`: one dump of a running service's tasks, fetched from its debug endpoint.
 * @module
 */
import { oneOf, parseArgs, type FlagSpec } from './args.js';
import { endpointBase, getText, tokenFrom } from './endpoint.js';
import { CliError, UsageError } from './errors.js';
import { COMMAND_HELP } from './help.js';

const FORMATS = ['grouped', 'full', 'json'] as const;

const FLAGS: readonly FlagSpec[] = [
  { name: 'format', short: 'f', kind: 'string' },
  { name: 'token', kind: 'string' },
  { name: 'timeout', kind: 'integer' },
];

/** Runs `corral dump`; resolves with the exit code. */
export async function dump(argv: readonly string[], write: (text: string) => void): Promise<number> {
  const { flags, positionals } = parseArgs('dump', argv, FLAGS);
  if (flags.has('help')) {
    write(COMMAND_HELP.dump as string);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing the service URL' : `expected one URL, got ${positionals.length}`, 'dump');
  }
  const format = oneOf('dump', 'format', flags.get('format'), FORMATS, 'grouped');
  const timeoutMs = timeoutFlag('dump', flags.get('timeout'));
  const url = new URL(`tasks?format=${format}`, endpointBase(positionals[0] as string, 'dump'));
  const body = (await getText(url, { token: tokenFrom(flags.get('token')), timeoutMs })) as string;
  if (format === 'json') checkJson(url, body);
  else checkText(url, body);
  write(body.endsWith('\n') ? body : `${body}\n`);
  return 0;
}

/** `--timeout`, checked: milliseconds from 1 to 10 minutes, default 5 s. */
export function timeoutFlag(command: string, value: string | number | boolean | undefined): number {
  if (value === undefined) return 5_000;
  if (typeof value !== 'number' || value < 1 || value > 600_000) {
    throw new UsageError(`--timeout must be from 1 to 600000 ms (got ${String(value)})`, command);
  }
  return value;
}

// Every text dump opens with "corral: N tasks in M groups". Anything else (a login page, an app's
// catch-all route answering 200) means the URL reaches something else: say so rather than print it.
function checkText(url: URL, body: string): void {
  if (body.startsWith('corral: ')) return;
  const first = (body.split('\n')[0] ?? '').trim().slice(0, 80);
  throw new CliError(`${url.href} did not answer a corral dump (it starts ${JSON.stringify(first)}); check the URL, and that the service mounts debugHandler() there`);
}

// A JSON dump that is not corral's means the URL points at something else: say so rather than
// print it as if it were one.
function checkJson(url: URL, body: string): void {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    throw new CliError(`${url.href} did not answer JSON; is it a corral debug endpoint?`);
  }
  const schema = (data as { schema?: unknown } | null)?.schema;
  if (typeof schema !== 'string' || !schema.startsWith('corral.dump/')) {
    throw new CliError(`${url.href} answered JSON that is not a corral dump (schema ${JSON.stringify(schema)})`);
  }
}
