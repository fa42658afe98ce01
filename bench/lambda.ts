// npm run bench:lambda — the gateway's Lambda bundle (npm run build:lambda first): its zip size, and its cold init
// = loading the bundle in a fresh Node process + the config + the first invocation (Slack's url_verification,
// answered by the handler: no network), measured inside that process from before the import to the answer, as
// Lambda's "Init Duration" + the first "Duration" would count it (Node's own start is Lambda's, not the bundle's).
// The CPU time of the same span is reported beside it: on a shared machine the wall time waits for a core.
// The sink's client (Kafka or SQS) is loaded at the first delivery, not at the cold start: what that adds to the
// first delivery is timed after the answer (loading its chunk; the connection itself is network, not counted).
// With the config as YAML (the default) and as JSON (the YAML parser not loaded).
// BENCH_RUNS (default 15) processes per sink and config; medians and the slowest.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signSlackRequest } from '../src/chat/channels/slack/signature.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'lambda-gateway', 'index.mjs');
const zip = join(root, 'dist', 'lambda-gateway.zip');
const chunks = JSON.parse(readFileSync(join(root, 'dist', 'lambda-gateway.chunks.json'), 'utf8')) as {
  kafka: string;
  sqs: string;
};
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const SECRET = 'bench-lambda-signing-secret';

const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-lambda-'));
const configFiles = { yaml: join(dir, 'chronops.yaml'), json: join(dir, 'chronops.json') };
writeFileSync(
  configFiles.yaml,
  [
    'timezone: Asia/Seoul',
    'resources:',
    '  ecs: [{ name: web, cluster: shop, service: web, region: ap-northeast-2, maxTasks: 20 }]',
    'kafka:',
    '  brokers: [127.0.0.1:9]',
    '  routes: [{ source: slack, topics: [slack-all] }]',
    '',
  ].join('\n'),
);
writeFileSync(
  configFiles.json,
  JSON.stringify({
    timezone: 'Asia/Seoul',
    resources: {
      ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
    },
    kafka: { brokers: ['127.0.0.1:9'], routes: [{ source: 'slack', topics: ['slack-all'] }] },
  }),
);

const probe = `
const t0 = performance.now();
const c0 = process.cpuUsage();
const { handler } = await import(${JSON.stringify(bundle)});
const loaded = performance.now();
const body = process.env.BODY;
const res = await handler({
  version: '2.0', rawPath: '/slack/events', headers: JSON.parse(process.env.HEADERS), body, isBase64Encoded: false,
  requestContext: { http: { method: 'POST', path: '/slack/events' }, stage: '$default' },
});
const done = performance.now();
const cpu = process.cpuUsage(c0);
if (res.statusCode !== 200 || !res.body.includes('chal')) throw new Error('unexpected answer ' + JSON.stringify(res));
const c1 = process.cpuUsage();
await import(process.env.CLIENT_CHUNK);
const client = performance.now() - done;
const clientCpu = process.cpuUsage(c1);
console.log(JSON.stringify({
  load: loaded - t0, total: done - t0, cpu: (cpu.user + cpu.system) / 1000,
  client, clientCpu: (clientCpu.user + clientCpu.system) / 1000,
}));
process.exit(0);
`;

interface Run {
  load: number;
  total: number;
  cpu: number;
  client: number;
  clientCpu: number;
}

function once(sink: 'kafka' | 'sqs', config: 'yaml' | 'json'): Run {
  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ token: 'legacy', challenge: 'chal-bench', type: 'url_verification' });
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], {
    env: {
      PATH: process.env.PATH ?? '',
      CHRONOPS_CONFIG: configFiles[config],
      CLIENT_CHUNK: join(root, 'dist', 'lambda-gateway', chunks[sink]),
      CHRONOPS_GATEWAY_SINK: sink,
      CHRONOPS_GATEWAY_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/chronops-gateway',
      AWS_REGION: 'ap-northeast-2',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_BOT_TOKEN: 'xoxb-bench',
      LOG_LEVEL: 'silent',
      BODY: body,
      HEADERS: JSON.stringify({
        'content-type': 'application/json',
        'x-slack-request-timestamp': String(now),
        'x-slack-signature': signSlackRequest(SECRET, now, body),
      }),
    },
  }).toString();
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const zipBytes = statSync(zip).size;
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    loadAverageAtStart: loadavg().map((l) => +l.toFixed(1)),
    zipBytes,
    zip: `${(zipBytes / 1024).toFixed(0)} KiB`,
    indexMjs: `${(statSync(bundle).size / 1024).toFixed(0)} KiB`,
  };
  for (const config of ['yaml', 'json'] as const) {
    for (const sink of ['kafka', 'sqs'] as const) {
      const runs = Array.from({ length: RUNS }, () => once(sink, config));
      result[`${sink}, ${config} config`] = {
        runs: RUNS,
        loadMs: +median(runs.map((r) => r.load)).toFixed(1),
        coldInitMs: +median(runs.map((r) => r.total)).toFixed(1),
        slowestMs: +Math.max(...runs.map((r) => r.total)).toFixed(1),
        cpuMs: +median(runs.map((r) => r.cpu)).toFixed(1),
        firstDeliveryClientLoadMs: +median(runs.map((r) => r.client)).toFixed(1),
        firstDeliveryClientLoadCpuMs: +median(runs.map((r) => r.clientCpu)).toFixed(1),
      };
    }
  }
  result.loadAverageAtEnd = loadavg().map((l) => +l.toFixed(1));
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
