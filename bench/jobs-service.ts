// The loopback service of `npm run bench:jobs`, in its own process (so that it does not share the event loop of
// the scheduler it measures): answers every request after DELAY ms, records when each arrived (by its job header)
// and the most requests it had in flight at once. Talks to the bench over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const delay = Number(process.env.DELAY_MS ?? 50);
const BODY = JSON.stringify({
  contents: { failTenants: [], failCount: 0, failDetails: [], successTenants: ['t1'] },
});
let arrivals: Array<{ job: string; at: number }> = [];
let inFlight = 0;
let peak = 0;

const server = createServer((req, res) => {
  arrivals.push({ job: String(req.headers['x-chronops-job'] ?? req.url), at: Date.now() });
  inFlight += 1;
  peak = Math.max(peak, inFlight);
  req.resume();
  setTimeout(() => {
    inFlight -= 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(BODY);
  }, delay);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'count') {
    process.send!({ n: arrivals.length });
  } else if (m.cmd === 'report') {
    process.send!({ arrivals, peak });
  } else if (m.cmd === 'reset') {
    arrivals = [];
    peak = 0;
    process.send!({ reset: true });
  } else if (m.cmd === 'stop') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
