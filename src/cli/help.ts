/**
 * The help texts, one per command: what it does, its flags with their defaults, an example.
 * @module
 */

export const MAIN_HELP = `corral: inspect the tasks of Node.js programs that use corral

Usage:
  corral dump URL [--format grouped|full|json] [--token T]   print a service's live tasks
  corral top URL [--interval ms] [--once | -n N]              watch them, refreshed
  corral run [--fail-on-leak] [--report exit|never] -- node app.js [args...]
                                                              run a program, report what it leaves running
  corral help [command]                                       help on a command
  corral --version

URL is the service's base URL (http://127.0.0.1:9229), with or without the
debug endpoint's path (/debug/corral/), or just a port (9229, on 127.0.0.1).
The service serves it with startDebugServer() or debugHandler() from corral/inspect.

Exit codes: 0 success; 1 the command failed (service unreachable, bad answer);
2 usage error; 3 run --fail-on-leak found something left running. run otherwise
exits with the program's own code.
`;

export const COMMAND_HELP: Readonly<Record<string, string>> = {
  dump: `corral dump URL [options]

Fetches the service's live tasks from its debug endpoint (GET <URL>/debug/corral/tasks)
and prints them.

Options:
  -f, --format F     grouped (default): one entry per spawn site, state and name, with a count
                     full: every task and group, as a tree
                     json: the "corral.dump/v1" JSON, for scripts (pipe it into jq)
  --token T          the endpoint's bearer token (default: the CORRAL_TOKEN environment
                     variable; prefer it: a flag is visible to other users in ps)
  --timeout MS       how long to wait for the answer (default 5000)

Examples:
  corral dump http://127.0.0.1:9229
  CORRAL_TOKEN=s3cret corral dump https://epro.internal:8443/admin --format json | jq '.counts'
`,
  top: `corral top URL [options]

Shows the service's live tasks by spawn site (count, growth per second since the last refresh,
oldest age), its oldest tasks and its watchdog's alerts, refreshed every interval. On a terminal
the screen is redrawn (Ctrl+C quits); otherwise each refresh is printed as plain text.

Options:
  -i, --interval MS  time between refreshes (default 2000, at least 100)
  --once             print one snapshot and exit
  -n, --count N      print N snapshots and exit
  --token T          the endpoint's bearer token (default: CORRAL_TOKEN)
  --timeout MS       how long to wait for each answer (default 5000)

Examples:
  corral top http://127.0.0.1:9229
  corral top 9229 --interval 10000 -n 6 > tasks.log
`,
  run: `corral run [options] -- node [node flags] app.js [args...]

Runs a Node.js program with corral preloaded (node --import), and reports what it leaves
running: its corral tasks, grouped by spawn site, and the handles keeping its event loop open
(timers, sockets, servers, child processes, watchers) with where each was created. The report
goes to stderr when the program exits, when a SIGINT, SIGTERM or SIGHUP it has no handler for
stops it, and on SIGUSR2 (the program keeps running). The program's exit code passes through.

Options:
  --fail-on-leak     exit 3 when the program exited 0 but left a corral task, a handle keeping it
                     alive, or an unclosed FileHandle
  --report exit      report as described above (default)
  --report never     no preload, no report: just run the program
  --json FILE        also write the last report to FILE as JSON

Examples:
  corral run -- node server.js --port 3000
  corral run --fail-on-leak -- node scripts/nightly-import.js
  corral run -- node --import tsx src/main.ts
`,
};
