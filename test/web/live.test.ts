// The live stream of the page (GET /api/live, server-sent events): every window created or cancelled and every
// transition, from whichever door; with several servers on one PostgreSQL database, also what the others did.
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import pg from 'pg';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator } from '../../src/aws/simulator.ts';
import { type Chronops, startChronops } from '../../src/hosts/server.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import {
  backends,
  dropSchemas,
  freshSchema,
  isoIn,
  POSTGRES_URL,
  type Running,
  runChronops,
  simulatorSpec,
  testConfig,
} from '../support/harness.ts';
import { openSse, type SseEvent, type SseStream } from '../support/sse.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;
const HOUR = 3_600_000;

const isChange = (type: string, windowId?: string) => (e: SseEvent) =>
  e.event === 'change' &&
  JSON.parse(e.data).type === type &&
  (windowId === undefined || JSON.parse(e.data).windowId === windowId);

async function createWindow(url: string, name: string, at = isoIn(HOUR), until = isoIn(2 * HOUR)) {
  const response = await fetch(`${url}/api/windows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-chronops-actor': 'carol', 'x-chronops-source': 'cli' },
    body: JSON.stringify({
      name,
      ecs: [{ resource: 'web', amount: 4 }],
      timing: { mode: 'explicit', at, until },
    }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { window: { id: string } }).window.id;
}

describe('live stream', () => {
  let run: Running | undefined;
  let stream: SseStream | undefined;
  afterEach(async () => {
    stream?.close();
    await run?.stopAll();
    run = undefined;
  });

  it('says hello, then reports windows created and cancelled, and the transitions they fire', async () => {
    // Prepare
    run = await runChronops(pglite);
    stream = await openSse(`${run.url}/api/live`);
    await stream.next((e) => e.event === 'hello');
    // Act: one window through the API that fires at once, one cancelled
    const fired = await createWindow(run.url, 'soon', isoIn(500), isoIn(HOUR));
    const cancelled = await createWindow(run.url, 'later');
    await fetch(`${run.url}/api/windows/${cancelled}/cancel`, { method: 'POST' });
    // Assess
    const created = JSON.parse((await stream.next(isChange('window.created', fired))).data);
    assert.equal(created.windowName, 'soon');
    assert.match(created.text, /window soon \(\w+\) created by carol/);
    assert.equal(created.node, run.node);
    await stream.next(isChange('window.cancelled', cancelled));
    await stream.next(isChange('transition.started', fired));
    const done = JSON.parse((await stream.next(isChange('transition.done', fired))).data);
    assert.equal(done.resource, 'web');
    assert.match(done.text, /web: start of \w+ done \(min 2 max 10 → min 4 max 10\)/);
  });

  it('open streams do not keep the server from stopping', async () => {
    // Prepare
    run = await runChronops(pglite);
    stream = await openSse(`${run.url}/api/live`);
    await stream.next((e) => e.event === 'hello');
    // Act
    const started = Date.now();
    await run.stopAll();
    run = undefined;
    // Assess
    assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
  });
});

describe('live stream across servers on PostgreSQL (LISTEN/NOTIFY relay)', () => {
  const servers: Chronops[] = [];
  const streams: SseStream[] = [];
  const schema = freshSchema();
  after(async () => {
    for (const s of streams) s.close();
    for (const s of servers) await s.close();
    await dropSchemas(schema);
  });

  it('a page connected to one server sees what another server did', async () => {
    // Prepare: two servers on one database and schema, each with its own pool
    const check = new pg.Client({ connectionString: POSTGRES_URL });
    await check.connect();
    await check.end();
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startChronops(testConfig(), {
          db: new PostgresDb(POSTGRES_URL, { max: 4 }),
          schema,
          gateway: new AwsGateway({
            dryRun: false,
            simulator: new AwsSimulator(simulatorSpec()),
            sink: { record: async () => {} },
          }),
          pollMs: 250,
          logger: createLogger({ level: 'silent' }),
        }),
      );
    }
    const [a, b] = servers as [Chronops, Chronops];
    const onB = await openSse(`${b.url}/api/live`);
    streams.push(onB);
    await onB.next((e) => e.event === 'hello');
    // Act: a window created and cancelled through server A
    const id = await createWindow(a.url, 'relayed');
    await fetch(`${a.url}/api/windows/${id}/cancel`, { method: 'POST' });
    // Assess: B's page hears both, once each
    const created = JSON.parse((await onB.next(isChange('window.created', id))).data);
    assert.equal(created.relayed, true, 'through the relay, not from B itself');
    assert.equal(created.node, a.node);
    assert.equal(created.windowName, 'relayed');
    await onB.next(isChange('window.cancelled', id));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(onB.events.filter(isChange('window.created', id)).length, 1, 'no duplicate');
  });
});
