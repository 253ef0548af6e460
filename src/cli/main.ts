#!/usr/bin/env node
/**
 * The `corral` command: `dump`, `top` and `run`. Usage errors exit 2 with a pointer to the help;
 * failures exit 1 with what went wrong and what to try.
 * @module
 */
import { readFileSync } from 'node:fs';
import { COMMAND_HELP, MAIN_HELP } from './help.js';
import { CliError, UsageError } from './errors.js';

const out = (text: string): void => void process.stdout.write(text);
const err = (text: string): void => void process.stderr.write(text);

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    out(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    out(`${version()}\n`);
    return 0;
  }
  if (command === 'help') {
    const topic = rest[0];
    if (topic === undefined) out(MAIN_HELP);
    else if (COMMAND_HELP[topic] !== undefined) out(COMMAND_HELP[topic]);
    else throw new UsageError(`no help on ${JSON.stringify(topic)}; the commands are dump, top and run`);
    return 0;
  }
  if (COMMAND_HELP[command] === undefined) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; the commands are dump, top and run`);
  }
  switch (command) {
    case 'dump':
      return (await import('./dump.js')).dump(rest, out);
    case 'top':
      return (await import('./top.js')).top(rest, process.stdout);
    default:
      return (await import('./run.js')).run(rest, out, err);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// A reader that went away (corral dump URL | head) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      err(`corral${e.command === undefined ? '' : ` ${e.command}`}: ${e.message}\nRun \`corral help${e.command === undefined ? '' : ` ${e.command}`}\` for usage.\n`);
      process.exitCode = 2;
    } else if (e instanceof CliError) {
      err(`corral: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      err(`corral: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
