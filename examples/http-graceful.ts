// A report service stops for a deploy without dropping a request. A clinician's report request
// is in flight when the stop begins: it is answered (with Connection: close), new connections are
// refused, readiness turns 503 at once, and the stop resolves as soon as the answer is out.
import assert from 'node:assert/strict';
import http from 'node:http';
import { background, sleep } from 'corral';
import { serve } from 'corral/http';

const svc = serve(
  async (req, res, ctx) => {
    // Five steps of report generation; the ctx ends if the client leaves, so does the work.
    for (let step = 0; step < 5; step++) await sleep(ctx, 40);
    res.end(`report for ${req.url}\n`);
  },
  { host: '127.0.0.1', port: 0, shutdownTimeout: 2_000 },
);
await svc.start();
console.log(`listening on ${svc.port}`);

const answer = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
  http
    .get({ host: '127.0.0.1', port: svc.port, path: '/protocols/P-7/report' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    })
    .on('error', reject);
});

await sleep(background(), 50); // the request is in flight
const report = await svc.stop();
const res = await answer;
console.log(`answered ${res.status} (${res.connection}): ${res.body.trim()}`);
console.log(`stopped: graceful=${report.graceful}, ${report.inFlightAtStop} in flight at stop, ${report.closeMs} ms`);
assert.equal(res.status, 200);
assert.equal(res.connection, 'close');
assert.equal(report.graceful, true);
