/**
 * `corral run -- node app.js`: runs a program with corral's preload, passes its exit code through,
 * and with `--fail-on-leak` turns "exited 0 but left something running" into exit 3.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { constants, tmpdir } from 'node:os';
import { oneOf, parseArgs, type FlagSpec } from './args.js';
import { CliError, UsageError } from './errors.js';
import { COMMAND_HELP } from './help.js';
import type { RunReport } from './report.js';

/** The exit code of `corral run --fail-on-leak` when the program exited 0 but left something. */
export const LEAK_EXIT_CODE = 3;

const FLAGS: readonly FlagSpec[] = [
  { name: 'report', kind: 'string' },
  { name: 'fail-on-leak', kind: 'boolean' },
  { name: 'json', kind: 'string' },
];

// Signals the CLI passes on to the program. A terminal sends SIGINT, SIGQUIT and SIGHUP to the
// whole foreground process group, so the program already has its own copy: passing one on would
// deliver it twice, and a second SIGINT means "exit now" to many programs (App does that). Those
// three are passed on only when the CLI is not attached to a terminal (a supervisor or a test
// signalling the CLI's pid).
const PASSED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const FROM_TERMINAL = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT', 'SIGHUP']);

/** Runs `corral run`; resolves with the exit code (or never, when it dies by the program's signal). */
export async function run(argv: readonly string[], out: (text: string) => void, say: (text: string) => void): Promise<number> {
  // Flags after the program's name are the program's: `corral run -- node app.js --help`.
  const { flags, rest } = parseArgs('run', argv, FLAGS, true);
  if (flags.has('help')) {
    out(COMMAND_HELP.run as string);
    return 0;
  }
  const mode = oneOf('run', 'report', flags.get('report'), ['exit', 'never'] as const, 'exit');
  const failOnLeak = flags.get('fail-on-leak') === true;
  const jsonOut = flags.get('json') as string | undefined;
  if (rest.length === 0) throw new UsageError('missing the program to run: corral run -- node app.js', 'run');
  const [cmd, ...args] = rest as [string, ...string[]];
  if (mode === 'never' && (failOnLeak || jsonOut !== undefined)) {
    throw new UsageError(`${failOnLeak ? '--fail-on-leak' : '--json'} needs a report; drop --report never`, 'run');
  }
  if (!isNode(cmd)) {
    throw new UsageError(
      `the program must be started with node (got ${JSON.stringify(cmd)}): corral loads itself with node's --import flag. ` +
        'Write it as: corral run -- node [node flags] app.js [args]; for TypeScript: corral run -- node --import tsx app.ts',
      'run',
    );
  }

  let dir: string | undefined;
  const env = { ...process.env };
  let childArgs = args;
  if (mode !== 'never') {
    const preload = new URL('./preload.js', import.meta.url);
    if (!existsSync(preload)) throw new CliError(`cannot find corral's preload at ${preload.href}; build corral first (npm run build)`);
    dir = mkdtempSync(join(tmpdir(), 'corral-run-'));
    env.CORRAL_RUN_REPORT = join(dir, 'report.json');
    // Spawn sites are what make the report useful; an explicit setting wins.
    if (env.CORRAL_SPAWN_SITES === undefined || env.CORRAL_SPAWN_SITES === '') env.CORRAL_SPAWN_SITES = 'always';
    // So that tasks nothing can ever settle are told apart from ones merely pending; same rule.
    if (env.CORRAL_DETECT_UNREACHABLE === undefined || env.CORRAL_DETECT_UNREACHABLE === '') env.CORRAL_DETECT_UNREACHABLE = '1';
    // First among the program's node flags, so it sees what other preloads open too.
    childArgs = ['--import', preload.href, ...args];
  }

  const child = spawn(cmd, childArgs, { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals): void => {
    if (FROM_TERMINAL.has(sig) && process.stdin.isTTY === true) return;
    child.kill(sig);
  };
  for (const s of PASSED) process.on(s, forward);
  const stopForwarding = (): void => {
    for (const s of PASSED) process.off(s, forward);
  };

  let outcome: { code: number | null; signal: NodeJS.Signals | null };
  try {
    outcome = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`could not start ${JSON.stringify(cmd)} (${code ?? (err as Error).message})${code === 'ENOENT' ? ': is it on PATH?' : ''}`, code === 'ENOENT' ? 127 : 1);
  } finally {
    stopForwarding();
  }

  let report: RunReport | undefined;
  if (dir !== undefined) {
    report = readReport(join(dir, 'report.json'));
    rmSync(dir, { recursive: true, force: true });
    if (jsonOut !== undefined && report !== undefined) writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
    if (report === undefined || !report.final) {
      const how = outcome.signal !== null ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
      say(`corral run: the program ${how} before it could report what it left running\n`);
      report = undefined;
    }
  }

  if (outcome.signal !== null) {
    // Die the way the program died, so a shell or supervisor sees the same thing.
    process.kill(process.pid, outcome.signal);
    return 128 + (constants.signals[outcome.signal] ?? 0);
  }
  const code = outcome.code ?? 1;
  if (code !== 0 || !failOnLeak) return code;
  if (report === undefined) {
    say('corral run: --fail-on-leak without a report to check; exiting 1\n');
    return 1;
  }
  if (report.leaked) {
    say(`corral run: the program left something running; exiting ${LEAK_EXIT_CODE} (--fail-on-leak)\n`);
    return LEAK_EXIT_CODE;
  }
  return 0;
}

function isNode(cmd: string): boolean {
  return cmd === process.execPath || /^node(js)?(\.exe)?$/i.test(basename(cmd));
}

function readReport(file: string): RunReport | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
    return r.schema === 'corral.run-report/v1' ? r : undefined;
  } catch {
    return undefined;
  }
}
