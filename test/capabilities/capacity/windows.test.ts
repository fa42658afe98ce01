import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildHolds, type WindowRequest } from '../../../src/capabilities/capacity/windows.ts';
import { type Config, parseConfig } from '../../../src/kernel/config.ts';
import { ValidationError } from '../../../src/kernel/errors.ts';
import { formatLocal } from '../../../src/kernel/time.ts';

const ZONE = 'Asia/Seoul';
/** 2026-11-22 13:05 in Seoul. */
const NOW = new Date('2026-11-22T04:05:00Z');

function makeConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig(
    {
      timezone: ZONE,
      resources: {
        ecs: [
          { name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 },
          { name: 'api', cluster: 'shop', service: 'api', region: 'ap-northeast-2', maxTasks: 8 },
        ],
        aurora: [
          {
            name: 'shop-db',
            clusterId: 'shop-aurora',
            region: 'ap-northeast-2',
            instanceClass: 'db.r6g.large',
            maxExtraReplicas: 3,
          },
        ],
      },
      defaults: { ecs: 'web' },
      ...overrides,
    },
    {},
  );
}

const local = (d: Date) => formatLocal(d, ZONE);

function issuesOf(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ValidationError');
}

const explicit = (at: string, until: string): WindowRequest['timing'] => ({ mode: 'explicit', at, until });

describe('buildHolds, explicit times', () => {
  it('holds every asked resource from at until until', () => {
    // Prepare
    const req: WindowRequest = {
      name: 'product #2',
      ecs: [{ resource: 'web', amount: 12 }],
      aurora: [{ resource: 'shop-db', amount: 2 }],
      timing: explicit('2026-11-23 16:00', '2026-11-23 17:30'),
    };

    // Act
    const { holds, warnings, name, dryRun } = buildHolds(req, makeConfig(), NOW);

    // Assess
    assert.deepEqual(holds, [
      {
        resource: 'web',
        kind: 'ecs',
        amount: 12,
        from: new Date('2026-11-23T07:00:00Z'),
        until: new Date('2026-11-23T08:30:00Z'),
      },
      {
        resource: 'shop-db',
        kind: 'aurora',
        amount: 2,
        from: new Date('2026-11-23T07:00:00Z'),
        until: new Date('2026-11-23T08:30:00Z'),
      },
    ]);
    assert.deepEqual(warnings, []);
    assert.equal(name, 'product #2');
    assert.equal(dryRun, false);
  });

  it('goes to the default resource of a kind when none is named', () => {
    // Act: the config names web as the ECS default; shop-db is the only Aurora cluster
    const { holds, name } = buildHolds(
      { ecs: [{ amount: 4 }], aurora: [{ amount: 1 }], timing: explicit('2026-11-23 16:00', '17:00') },
      makeConfig(),
      NOW,
    );

    // Assess
    assert.deepEqual(
      holds.map((h) => h.resource),
      ['web', 'shop-db'],
    );
    assert.equal(name, 'window 2026-11-23 16:00');
  });

  it('refuses an ask without a name when the kind has no default', () => {
    // Prepare: two ECS services and no default
    const config = makeConfig({ defaults: {} });

    // Act
    const issues = issuesOf(() =>
      buildHolds({ ecs: [{ amount: 4 }], timing: explicit('2026-11-23 16:00', '17:00') }, config, NOW),
    );

    // Assess
    assert.equal(issues[0]!.field, 'ecs[0].resource');
    assert.match(issues[0]!.message, /no default ecs service; configured ecs services: web, api/);
  });

  it('reads HH:mm for until on the day of at', () => {
    const { holds } = buildHolds(
      { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-23 16:00', '17:30') },
      makeConfig(),
      NOW,
    );
    assert.equal(local(holds[0]!.until), '2026-11-23 17:30');
  });

  it('crosses midnight when until HH:mm is not after at', () => {
    // Act
    const { holds } = buildHolds(
      { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-23 23:00', '01:00') },
      makeConfig(),
      NOW,
    );

    // Assess
    assert.equal(local(holds[0]!.from), '2026-11-23 23:00');
    assert.equal(local(holds[0]!.until), '2026-11-24 01:00');
  });

  it('reads at as HH:mm on today', () => {
    const { holds } = buildHolds(
      { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('16:00', '17:00') },
      makeConfig(),
      NOW,
    );
    assert.equal(local(holds[0]!.from), '2026-11-22 16:00');
    assert.equal(local(holds[0]!.until), '2026-11-22 17:00');
  });

  it('refuses a time in the past, saying what now is', () => {
    // Act
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-22 13:00', '14:00') },
        makeConfig(),
        NOW,
      ),
    );

    // Assess
    assert.deepEqual(issues, [
      { field: 'timing.at', message: '2026-11-22 13:00 is in the past (now is 2026-11-22 13:05 Asia/Seoul)' },
    ]);
  });

  it('refuses until before at', () => {
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-23 16:00', '2026-11-23 15:00') },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(issues, [
      { field: 'timing.until', message: '2026-11-23 15:00 must be after timing.at (2026-11-23 16:00)' },
    ]);
  });

  it('refuses until equal to at', () => {
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-23 16:00', '2026-11-23 16:00') },
        makeConfig(),
        NOW,
      ),
    );
    assert.equal(issues[0]!.field, 'timing.until');
  });

  it('refuses times it cannot read, naming the field', () => {
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('tomorrow 4pm', 'later') },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(
      issues.map((i) => i.field),
      ['timing.at', 'timing.until'],
    );
    assert.match(issues[0]!.message, /YYYY-MM-DD HH:mm/);
  });

  it('refuses a wall time the zone skips', () => {
    // Prepare
    const config = makeConfig({ timezone: 'America/New_York' });
    const now = new Date('2026-03-01T00:00:00Z');

    // Act
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-03-08 02:30', '04:00') },
        config,
        now,
      ),
    );

    // Assess
    assert.equal(issues[0]!.field, 'timing.at');
    assert.match(issues[0]!.message, /does not exist/);
  });

  it('crosses midnight into a DST change by calendar day, not by 24 hours', () => {
    // Prepare: New York springs forward at 02:00 on 2026-03-08
    const config = makeConfig({ timezone: 'America/New_York' });
    const now = new Date('2026-03-01T00:00:00Z');

    // Act
    const { holds } = buildHolds(
      { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-03-07 23:00', '04:00') },
      config,
      now,
    );

    // Assess: 23:00 EST to 04:00 EDT is four hours
    assert.equal(formatLocal(holds[0]!.until, 'America/New_York'), '2026-03-08 04:00');
    assert.equal(holds[0]!.until.getTime() - holds[0]!.from.getTime(), 4 * 3_600_000);
  });
});

describe('buildHolds, the allow-list and the caps', () => {
  it('refuses an unknown resource, listing those configured', () => {
    const issues = issuesOf(() =>
      buildHolds(
        { ecs: [{ resource: 'shop', amount: 3 }], timing: explicit('2026-11-23 16:00', '17:00') },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(issues, [
      { field: 'ecs[0].resource', message: 'unknown resource "shop"; configured ecs services: web, api' },
    ]);
  });

  it('refuses an ecs ask naming an aurora cluster, and the other way round', () => {
    const issues = issuesOf(() =>
      buildHolds(
        {
          ecs: [{ resource: 'shop-db', amount: 1 }],
          aurora: [{ resource: 'web', amount: 1 }],
          timing: explicit('2026-11-23 16:00', '17:00'),
        },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(
      issues.map((i) => i.field),
      ['ecs[0].resource', 'aurora[0].resource'],
    );
    assert.match(issues[0]!.message, /"shop-db" is an aurora cluster, not an ecs service/);
    assert.match(issues[1]!.message, /"web" is an ecs service, not an aurora cluster/);
  });

  it('refuses amounts above the cap, saying the cap', () => {
    const issues = issuesOf(() =>
      buildHolds(
        {
          ecs: [{ resource: 'web', amount: 21 }],
          aurora: [{ resource: 'shop-db', amount: 4 }],
          timing: explicit('2026-11-23 16:00', '17:00'),
        },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(issues, [
      { field: 'ecs[0].amount', message: '21 tasks is above the cap of 20 (maxTasks of web)' },
      {
        field: 'aurora[0].amount',
        message: '4 extra readers is above the cap of 3 (maxExtraReplicas of shop-db)',
      },
    ]);
  });

  it('accepts amounts at the cap', () => {
    const { holds } = buildHolds(
      {
        ecs: [{ resource: 'web', amount: 20 }],
        aurora: [{ resource: 'shop-db', amount: 3 }],
        timing: explicit('2026-11-23 16:00', '17:00'),
      },
      makeConfig(),
      NOW,
    );
    assert.deepEqual(
      holds.map((h) => h.amount),
      [20, 3],
    );
  });

  it('refuses amounts that are not whole numbers from 1', () => {
    const issues = issuesOf(() =>
      buildHolds(
        {
          ecs: [
            { resource: 'web', amount: 0 },
            { resource: 'api', amount: 2.5 },
          ],
          aurora: [{ resource: 'shop-db', amount: Number.NaN }],
          timing: explicit('2026-11-23 16:00', '17:00'),
        },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(issues, [
      { field: 'ecs[0].amount', message: 'must be a whole number of tasks from 1 to 20 (maxTasks of web)' },
      { field: 'ecs[1].amount', message: 'must be a whole number of tasks from 1 to 8 (maxTasks of api)' },
      {
        field: 'aurora[0].amount',
        message: 'must be a whole number of extra readers from 1 to 3 (maxExtraReplicas of shop-db)',
      },
    ]);
  });

  it('refuses the same resource twice', () => {
    const issues = issuesOf(() =>
      buildHolds(
        {
          ecs: [{ resource: 'web', amount: 3 }, { amount: 5 }],
          timing: explicit('2026-11-23 16:00', '17:00'),
        },
        makeConfig(),
        NOW,
      ),
    );
    assert.deepEqual(issues, [
      { field: 'ecs[1].resource', message: '"web" is already asked for in ecs[0]; ask once per resource' },
    ]);
  });

  it('refuses a request with no ask', () => {
    const issues = issuesOf(() =>
      buildHolds({ ecs: [], timing: explicit('2026-11-23 16:00', '17:00') }, makeConfig(), NOW),
    );
    assert.equal(issues[0]!.field, 'ecs');
    assert.match(issues[0]!.message, /at least one/);
  });

  it('refuses a bad name and accepts Hangul', () => {
    const timing = explicit('2026-11-23 16:00', '17:00');
    const ecs = [{ resource: 'web', amount: 3 }];
    assert.equal(buildHolds({ name: '상품 #2 오픈', ecs, timing }, makeConfig(), NOW).name, '상품 #2 오픈');
    assert.equal(
      issuesOf(() => buildHolds({ name: 'drop <b>', ecs, timing }, makeConfig(), NOW))[0]!.field,
      'name',
    );
    assert.equal(
      issuesOf(() => buildHolds({ name: 'x'.repeat(65), ecs, timing }, makeConfig(), NOW))[0]!.field,
      'name',
    );
    assert.equal(
      issuesOf(() => buildHolds({ name: '  ', ecs, timing }, makeConfig(), NOW))[0]!.field,
      'name',
    );
  });

  it('reports every issue at once', () => {
    // Act
    const issues = issuesOf(() =>
      buildHolds(
        {
          name: '',
          ecs: [
            { resource: 'nope', amount: 3 },
            { resource: 'web', amount: 50 },
          ],
          aurora: [{ resource: 'shop-db', amount: 0 }],
          timing: explicit('2026-11-22 09:00', '2026-11-22 08:00'),
        },
        makeConfig(),
        NOW,
      ),
    );

    // Assess
    assert.deepEqual(
      issues.map((i) => i.field),
      ['name', 'ecs[0].resource', 'ecs[1].amount', 'aurora[0].amount', 'timing.at', 'timing.until'],
    );
  });

  it('is a dry run when the config or the request says so', () => {
    const base = { ecs: [{ resource: 'web', amount: 3 }], timing: explicit('2026-11-23 16:00', '17:00') };
    assert.equal(buildHolds({ ...base, dryRun: true }, makeConfig(), NOW).dryRun, true);
    assert.equal(buildHolds({ ...base, dryRun: false }, makeConfig({ dryRun: true }), NOW).dryRun, true);
  });
});

describe('buildHolds, auto lead times', () => {
  const both = { ecs: [{ resource: 'web', amount: 12 }], aurora: [{ resource: 'shop-db', amount: 2 }] };

  it('starts each kind its own lead before the open and ends all after it', () => {
    // Act
    const { holds, warnings, name } = buildHolds(
      { ...both, timing: { mode: 'auto', open: '2026-11-23 16:00' } },
      makeConfig(),
      NOW,
    );

    // Assess: defaults 10 and 25 min before, 60 min after
    assert.deepEqual(
      holds.map((h) => [h.resource, local(h.from), local(h.until)]),
      [
        ['web', '2026-11-23 15:50', '2026-11-23 17:00'],
        ['shop-db', '2026-11-23 15:35', '2026-11-23 17:00'],
      ],
    );
    assert.deepEqual(warnings, []);
    assert.equal(name, 'window 2026-11-23 16:00');
  });

  it('uses the lead times of the config', () => {
    const config = makeConfig({
      leadTimes: { ecsMinutes: 5, auroraMinutes: 40, scaleInMinutesAfterOpen: 30 },
    });
    const { holds } = buildHolds(
      { ...both, timing: { mode: 'auto', open: '2026-11-23 16:00' } },
      config,
      NOW,
    );
    assert.deepEqual(
      holds.map((h) => [local(h.from), local(h.until)]),
      [
        ['2026-11-23 15:55', '2026-11-23 16:30'],
        ['2026-11-23 15:20', '2026-11-23 16:30'],
      ],
    );
  });

  it('cuts a lead that falls in the past to now, with a warning', () => {
    // Prepare: now 13:05, open at 13:17 (HH:mm is today): Aurora would start at 12:52
    // Act
    const { holds, warnings } = buildHolds(
      { ...both, timing: { mode: 'auto', open: '13:17' } },
      makeConfig(),
      NOW,
    );

    // Assess
    assert.equal(local(holds[0]!.from), '2026-11-22 13:07');
    assert.deepEqual(holds[1]!.from, NOW);
    assert.equal(local(holds[1]!.until), '2026-11-22 14:17');
    assert.deepEqual(warnings, ['Aurora lead of 25 min cut to 12 min: readers may not be ready at 13:17']);
  });

  it('cuts both leads when the open is very near', () => {
    // Prepare: open 40 s from now
    const now = new Date('2026-11-22T04:04:20Z');

    // Act
    const { holds, warnings } = buildHolds(
      { ...both, timing: { mode: 'auto', open: '13:05' } },
      makeConfig(),
      now,
    );

    // Assess
    assert.deepEqual(
      holds.map((h) => h.from),
      [now, now],
    );
    assert.deepEqual(warnings, [
      'ECS lead of 10 min cut to 40s: new tasks may not be running at 13:05',
      'Aurora lead of 25 min cut to 40s: readers may not be ready at 13:05',
    ]);
  });

  it('refuses an open in the past', () => {
    const issues = issuesOf(() =>
      buildHolds({ ...both, timing: { mode: 'auto', open: '2026-11-22 13:05' } }, makeConfig(), NOW),
    );
    assert.deepEqual(issues, [
      {
        field: 'timing.open',
        message: '2026-11-22 13:05 is in the past (now is 2026-11-22 13:05 Asia/Seoul)',
      },
    ]);
  });

  it('refuses an unknown timing mode', () => {
    const issues = issuesOf(() =>
      buildHolds(
        { ...both, timing: { mode: 'soon' } as unknown as WindowRequest['timing'] },
        makeConfig(),
        NOW,
      ),
    );
    assert.equal(issues[0]!.field, 'timing.mode');
  });
});
