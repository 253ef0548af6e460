// An ePRO service with corral's debug endpoint: what pprof's /debug/pprof/goroutine gives a Go
// service. Each questionnaire submission starts a reminder task that waits for an answer on a
// channel nobody ever sends to: the leak. The endpoint, on loopback and behind a token, shows the
// reminders piling up at one spawn site, with patient ids kept out of the dump by the redaction.
// Then a SIGUSR2 writes the same picture to stderr, with no port at all.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Channel, configure, go } from 'corral';
import { App } from 'corral/app';
import { serve } from 'corral/http';
import { dumpOnSignal, setRedaction, startDebugServer } from 'corral/inspect';

configure({ spawnSites: 'always' }); // production default is 'sampled': one spawn in 64
// Labels show in dumps: keep the ones that identify code and data sets, drop everything else.
const shown = new Set(['study', 'form']);
setRedaction((key, value) => (shown.has(key) ? value : undefined));

const app = new App({ name: 'epro', logger: false });

// The debug server first, so the app stops it last: a hung shutdown can still be dumped.
const token = process.env.DEBUG_TOKEN ?? randomBytes(24).toString('base64url');
const debug = await startDebugServer({ port: 0, token, app });
app.add(debug);

const answers = new Channel<string>(); // the reminder service that should answer was never started

function submitQuestionnaire(_req: unknown, res: { end(body: string): void }): void {
  // ... the form is saved ...
  const patientId = `P-${1000 + Math.floor(Math.random() * 9000)}`;
  go(async (ctx) => {
    await answers.recv(ctx); // waits forever: the leak
  }, { name: 'send-reminder', labels: { study: 'EPRO-7', form: 'PHQ-9', patientId } });
  res.end('saved\n');
}
const api = serve(submitQuestionnaire as never, { host: '127.0.0.1', port: 0 });
app.add(api);
await app.start();

for (let i = 0; i < 25; i++) await fetch(`http://127.0.0.1:${api.port}/questionnaires/phq-9`, { method: 'POST', body: '{}' }).then((r) => r.text());

// What an operator runs: curl -H "Authorization: Bearer $DEBUG_TOKEN" http://127.0.0.1:PORT/debug/corral/tasks
const auth = { authorization: `Bearer ${token}` };
const refused = await fetch(`${debug.url}tasks`);
assert.equal(refused.status, 401, 'no token, no dump');
await refused.text();

const grouped = await (await fetch(`${debug.url}tasks`, { headers: auth })).text();
console.log(`GET ${debug.url}tasks\n${grouped}`);
assert.match(grouped, /25 tasks "send-reminder" \[waiting: chan receive/);

const doc = (await (await fetch(`${debug.url}tasks?format=json`, { headers: auth })).json()) as {
  schema: string;
  sites: { name: string; count: number; spawnSite: string | null }[];
  tasks: { labels: Record<string, string> }[];
};
assert.equal(doc.schema, 'corral.dump/v1');
const top = doc.sites[0];
console.log(`JSON: the largest site has ${top?.count} tasks "${top?.name}", spawned ${top?.spawnSite?.split('\n')[0]}`);
assert.ok(doc.tasks.every((t) => !('patientId' in t.labels)), 'patient ids stay out of the dump');

const health = (await (await fetch(`${debug.url}health`, { headers: auth })).json()) as { state: string; live: { tasks: number } };
console.log(`health: ${health.state}, ${health.live.tasks} live tasks\n`);

// The same picture without a port: kill -USR2 <pid>.
const stopDumping = dumpOnSignal({ format: 'grouped' });
const dumped = new Promise((resolve) => process.once('SIGUSR2', resolve));
process.kill(process.pid, 'SIGUSR2');
await dumped; // the dump's listener ran first: the dump is on stderr
stopDumping();

await app.stop(); // the leaked reminders hold no timer or socket: the process can end
console.log(`stopped; debug server listening: ${debug.server.listening}`);
