import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { parseConfig } from '../../../src/kernel/config.ts';
import { ConfigError } from '../../../src/kernel/errors.ts';

const NO_ENV: NodeJS.ProcessEnv = {};

const YAML = `
timezone: Asia/Seoul
schedules:
  office-hours:
    description: weekdays 09-18
    periods:
      - { begintime: "09:00", endtime: "18:00", weekdays: mon-fri }
    enforced: true
  nights:
    timezone: America/New_York
    periods:
      - { begintime: "22:00", endtime: "06:00", weekdays: "mon-fri" }
      - { monthdays: L }
    retainRunning: true
    hibernate: true
resources:
  ecs:
    - { name: web, cluster: shop, service: web, region: ap-northeast-2, maxTasks: 20, schedule: office-hours }
    - { name: api, cluster: shop, service: api, region: ap-northeast-2, maxTasks: 8 }
  aurora:
    - { name: shop-db, clusterId: shop-aurora, region: ap-northeast-2, instanceClass: db.r6g.large, maxExtraReplicas: 2, schedule: nights }
  ec2:
    - { name: dev-box, instanceId: i-0123456789abcdef0, region: ap-northeast-2, schedule: office-hours, pricePerUnitHour: 0.1 }
  rds:
    - { name: dev-db, instanceId: dev-db, region: ap-northeast-2, schedule: nights }
`;

function issuesOf(raw: unknown): Array<{ field: string; message: string }> {
  try {
    parseConfig(raw, NO_ENV);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

function base(): {
  schedules: Record<string, unknown>;
  resources: { ec2: unknown[]; [kind: string]: unknown[] };
} {
  return {
    schedules: { office: { periods: [{ begintime: '09:00', endtime: '18:00' }] } },
    resources: {
      ec2: [{ name: 'box', instanceId: 'i-0123456789abcdef0', region: 'ap-northeast-2', schedule: 'office' }],
    },
  };
}

describe('power config', () => {
  it('reads schedules and the resources they start and stop', () => {
    const config = parseConfig(parseDocument(YAML).toJS(), NO_ENV);
    const { schedules, resources } = config.power;
    assert.deepEqual(Object.keys(schedules), ['office-hours', 'nights']);
    assert.equal(schedules['office-hours']!.timezone, 'Asia/Seoul'); // the config's zone by default
    assert.equal(schedules['office-hours']!.enforced, true);
    assert.equal(schedules['office-hours']!.retainRunning, false);
    assert.equal(schedules.nights!.timezone, 'America/New_York');
    assert.equal(schedules.nights!.periods[0]!.begin, 22 * 60);
    assert.equal(schedules.nights!.periods[0]!.weekdays!.text, 'mon-fri');
    assert.equal(schedules.nights!.hibernate, true);
    assert.deepEqual(Object.keys(resources).sort(), ['dev-box', 'dev-db', 'shop-db', 'web']);
    assert.deepEqual(resources['dev-box'], {
      kind: 'ec2',
      name: 'dev-box',
      instanceId: 'i-0123456789abcdef0',
      region: 'ap-northeast-2',
      schedule: 'office-hours',
      pricePerUnitHour: 0.1,
    });
    assert.deepEqual(resources.web, {
      kind: 'ecs',
      name: 'web',
      cluster: 'shop',
      service: 'web',
      region: 'ap-northeast-2',
      schedule: 'office-hours',
    });
    assert.equal(resources['shop-db']!.kind, 'aurora');
    // The capacity allow-list is unchanged: ECS and Aurora only, the unscheduled `api` included.
    assert.deepEqual(Object.keys(config.resources).sort(), ['api', 'shop-db', 'web']);
  });

  it('a config without schedules has no power resources', () => {
    const config = parseConfig({}, NO_ENV);
    assert.deepEqual(config.power, { schedules: {}, resources: {} });
  });

  it('refuses a resource whose schedule does not exist, naming the configured ones', () => {
    const raw = base();
    (raw.resources.ec2[0] as Record<string, unknown>).schedule = 'ofice';
    assert.deepEqual(issuesOf(raw), [
      {
        field: 'resources.ec2[0].schedule',
        message: 'unknown schedule "ofice"; configured schedules: office',
      },
    ]);
  });

  it('refuses a bad EC2 instance id and a bad DB identifier', () => {
    const raw = base();
    (raw.resources.ec2[0] as Record<string, unknown>).instanceId = 'i-xyz';
    raw.resources.rds = [{ name: 'db', instanceId: 'my--db', region: 'ap-northeast-2', schedule: 'office' }];
    const found = issuesOf(raw);
    assert.match(found.find((i) => i.field === 'resources.ec2[0].instanceId')!.message, /EC2 instance id/);
    assert.match(
      found.find((i) => i.field === 'resources.rds[0].instanceId')!.message,
      /DB instance identifier/,
    );
  });

  it('names are unique across every kind, and one AWS resource is listed once', () => {
    const raw = base();
    raw.resources.rds = [{ name: 'box', instanceId: 'dev-db', region: 'ap-northeast-2', schedule: 'office' }];
    raw.resources.ec2.push({
      name: 'box-2',
      instanceId: 'i-0123456789abcdef0',
      region: 'ap-northeast-2',
      schedule: 'office',
    });
    raw.resources.ecs = [
      {
        name: 'box-3',
        cluster: 'c',
        service: 's',
        region: 'ap-northeast-2',
        maxTasks: 2,
        schedule: 'office',
      },
    ];
    raw.resources.aurora = [];
    const found = issuesOf(raw);
    assert.deepEqual(
      found.find((i) => i.field === 'resources.rds[0].name'),
      { field: 'resources.rds[0].name', message: '"box" is already used by resources.ec2[0]' },
    );
    assert.match(
      found.find((i) => i.field === 'resources.ec2[1]')!.message,
      /same AWS resource as resources.ec2\[0\]/,
    );
    // A scheduled ECS service whose name an EC2 entry also uses.
    const clash = base();
    clash.resources.ecs = [
      { name: 'box', cluster: 'c', service: 's', region: 'ap-northeast-2', maxTasks: 2, schedule: 'office' },
    ];
    assert.deepEqual(issuesOf(clash), [
      { field: 'resources.ec2[0].name', message: '"box" is already used by resources.ecs[0]' },
    ]);
  });

  it('a schedule field that is not a schedule mapping, and unknown keys in a period', () => {
    const raw = base();
    raw.schedules.office = { periods: [{ begintime: '09:00', endtime: '18:00', weekday: 'mon' }] };
    assert.deepEqual(issuesOf(raw), [
      { field: 'schedules.office.periods[0].weekday', message: 'unknown key; check its spelling' },
    ]);
    const badName = base();
    badName.schedules = { 'Office Hours': { periods: [{}] } };
    assert.match(issuesOf(badName)[0]!.message, /schedule name/);
  });
});
