// Power commands from JANDI over real HTTP: `POST /jandi/webhook` with the room's token (checked; a wrong one gets
// 401 and nothing runs), a quick command answered in the response in JANDI's format, a redelivery answered once,
// permissions per room and writer, and force_start answered at once then reported later through the room's
// incoming webhook (a fake JANDI receiver on loopback), once. Typos get the usage and the nearest name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import { AwsSimulator } from '../../../src/aws/simulator.ts';
import type { PowerCapability } from '../../../src/capabilities/power/capability.ts';
import { type Chronops, startChronops } from '../../../src/hosts/server.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import type { PgliteDb } from '../../../src/store/pglite-db.ts';
import { FakeWebhook } from '../../support/fake-webhooks.ts';
import { eventually } from '../../support/harness.ts';
import { memoryPglite } from '../../support/pglite.ts';

const TOKEN = 'jandi-room-token-0123456789';
const I1 = 'i-00000000000000001';
const I2 = 'i-00000000000000002';
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const OTHER_MONTH = MONTHS[(new Date().getUTCMonth() + 6) % 12]!;

// biome-ignore lint/suspicious/noExplicitAny: JSON answers read loosely
type Loose = any;

describe('power commands from JANDI (real HTTP)', () => {
  let chronops: Chronops;
  let db: PgliteDb;
  let simulator: AwsSimulator;
  const hook = new FakeWebhook('jandi');
  let n = 0;

  before(async () => {
    await hook.start();
    const config = parseConfig(
      {
        timezone: 'Asia/Seoul',
        locale: 'en',
        schedules: {
          'office-hours': { timezone: 'Asia/Seoul', periods: [{ months: OTHER_MONTH }] },
        },
        resources: {
          ec2: [
            { name: 'batch-1', instanceId: I1, region: 'ap-northeast-2', schedule: 'office-hours' },
            { name: 'batch-2', instanceId: I2, region: 'ap-northeast-2', schedule: 'office-hours' },
          ],
        },
        sources: [
          {
            kind: 'jandi',
            name: 'webhook',
            replyWithinMs: 2000,
            rooms: [
              { name: 'ops', token: '${JANDI_TOKEN}', replyTo: 'ops-room', locale: 'ko' },
              { name: 'lounge', token: '${JANDI_LOUNGE_TOKEN}', replyTo: 'ops-room' },
            ],
          },
        ],
        jandi: { permissions: { 'power.force': { channels: ['ops'], users: ['kim@example.com'] } } },
        notify: { destinations: { 'ops-room': { kind: 'jandi', url: '${JANDI_OPS_WEBHOOK_URL}' } } },
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
      },
      {
        JANDI_TOKEN: TOKEN,
        JANDI_LOUNGE_TOKEN: 'lounge-token-0123456789abc',
        JANDI_OPS_WEBHOOK_URL: hook.url('ops'),
      },
    );
    const ec2 = { state: 'stopped' as const, startSeconds: 0.3, stopSeconds: 0.3 };
    simulator = new AwsSimulator({ ec2: { [I1]: ec2, [I2]: ec2 } });
    db = await memoryPglite();
    chronops = await startChronops(config, {
      db,
      schema: 'chronops',
      gateway: new AwsGateway({
        dryRun: false,
        simulator,
        sink: {
          record: (call, executionId) =>
            chronops?.store.auditCloudCall(call, executionId) ?? Promise.resolve(),
        },
      }),
      pollMs: 100,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
  });
  after(async () => {
    await chronops?.close();
    await db?.close();
    await hook.stop();
  });

  function message(text: string, overrides: Record<string, unknown> = {}) {
    n += 1;
    return {
      token: TOKEN,
      teamName: 'Toss Lab, Inc.',
      roomName: '운영팀',
      writerName: '김개발',
      writerEmail: 'kim@example.com',
      text,
      keyword: 'chronops',
      createdAt: new Date(Date.now() - n).toISOString(),
      ...overrides,
    };
  }

  async function post(body: unknown) {
    const response = await fetch(`${chronops.url}/jandi/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: (await response.json()) as Loose,
    };
  }

  async function ec2(id: string): Promise<string> {
    const out = (await simulator.send('EC2', 'DescribeInstances', { InstanceIds: [id] })) as Loose;
    return out.Reservations[0].Instances[0].State.Name;
  }

  it('answers a quick command in the response, in JANDI format and the room’s language; a redelivery runs it once', async () => {
    // Prepare
    const body = message('/chronops office-hours info 2026-12-24');
    // Act
    const first = await post(body);
    const again = await post(body);
    // Assess
    assert.equal(first.status, 200);
    assert.match(first.body.body, /office-hours/);
    assert.equal(typeof first.body.connectColor, 'string');
    assert.ok(Array.isArray(first.body.connectInfo));
    assert.match(JSON.stringify(first.body), /기간|실행/, JSON.stringify(first.body));
    assert.equal(again.status, 200);
    const audits = await chronops.store.listAudit({ action: 'chat.' });
    assert.equal(audits.filter((a) => a.target === 'office-hours').length, 1, 'run once for two deliveries');
  });

  it('refuses a wrong token with 401 and runs nothing', async () => {
    const before = (await chronops.store.listAudit({ action: 'chat.' })).length;
    const answer = await post(
      message('/chronops office-hours force_start', { token: 'not-the-token-at-all' }),
    );
    assert.equal(answer.status, 401);
    assert.equal((await chronops.store.listAudit({ action: 'chat.' })).length, before);
    assert.equal(await ec2(I1), 'stopped');
  });

  it('force_start: "started" in the response, the outcome later through the room’s incoming webhook, once', async () => {
    // Act
    const answer = await post(message('/chronops office-hours force_start'));
    // Assess: answered at once
    assert.equal(answer.status, 200);
    assert.match(JSON.stringify(answer.body), /force_start/);
    assert.match(JSON.stringify(answer.body), /batch-1, batch-2/);
    // …and reported in the room when both run
    const report = await eventually(async () => hook.delivered('ops')[0], 10_000, 'the report in the room');
    assert.equal(await ec2(I1), 'running');
    assert.equal(await ec2(I2), 'running');
    assert.equal(report.headers.accept, 'application/vnd.tosslab.jandi-v2+json');
    const text = JSON.stringify(report.body);
    assert.match(text, /office-hours/);
    assert.match(text, /완료/, 'in the room’s language');
    assert.match(text, /batch-1/);
    // Once: the next runs (follows, checks) send nothing more
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hook.delivered('ops').length, 1);
  });

  it('permissions per room and writer: force_stop refused in another room and to another writer', async () => {
    const lounge = await post(
      message('/chronops office-hours force_stop', {
        token: 'lounge-token-0123456789abc',
        roomName: 'lounge',
      }),
    );
    assert.equal(lounge.status, 200);
    assert.match(JSON.stringify(lounge.body), /not enabled in this channel/, JSON.stringify(lounge.body));
    const other = await post(
      message('/chronops office-hours force_stop', { writerEmail: 'lee@example.com' }),
    );
    assert.match(JSON.stringify(other.body), /권한|허용|not allowed/i, JSON.stringify(other.body));
    assert.equal(await ec2(I1), 'running');
    const refused = await chronops.store.listAudit({ action: 'chat.power.force_stop' });
    assert.equal(refused.length, 2);
    assert.ok(refused.every((a) => a.outcome !== 'ok'));
  });

  it('a typo gets the usage and the nearest schedule or command; bad input is refused with its usage', async () => {
    const typo = await post(message('/chronops offce-hours status'));
    assert.match(JSON.stringify(typo.body), /office-hours/);
    const sub = await post(message('/chronops office-hours exceptoin info'));
    assert.match(JSON.stringify(sub.body), /exception/);
    const bad = await post(message('/chronops office-hours exception set 2026-13-40 stop 15:00'));
    assert.match(JSON.stringify(bad.body), /2026-13-40/);
    assert.match(JSON.stringify(bad.body), /exception set/);
  });

  it('exception set / del from JANDI change the plan; a second del says there is none (in Korean)', async () => {
    const power = chronops.capabilities.power as PowerCapability;
    const set = await post(message('/chronops office-hours exception set 2026-12-24 start 9:00'));
    assert.match(JSON.stringify(set.body), /09:00/);
    const info = await power.service.exceptions('office-hours', '2026-12-24');
    assert.deepEqual(info, [{ date: '2026-12-24', start: 540 }]);
    const del = await post(message('/chronops office-hours exception del 2026-12-24 start'));
    assert.equal(del.status, 200);
    assert.deepEqual(await power.service.exceptions('office-hours', '2026-12-24'), []);
    const again = await post(message('/chronops office-hours exception del 2026-12-24 start'));
    assert.match(JSON.stringify(again.body), /없습니다/);
  });
});
