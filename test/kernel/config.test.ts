import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig, resolveConfigPath } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/chronops.yaml', import.meta.url));
const NO_ENV: NodeJS.ProcessEnv = {};

const FULL_YAML = `
timezone: Asia/Seoul
dryRun: true
leadTimes: { ecsMinutes: 5, auroraMinutes: 30, scaleInMinutesAfterOpen: 90 }
graceMinutes: 20
resources:
  ecs:
    - { name: web, cluster: shop, service: web, region: ap-northeast-2, maxTasks: 20, pricePerUnitHour: 0.05 }
    - { name: api, cluster: shop, service: api, region: ap-northeast-2, maxTasks: 8 }
  aurora:
    - name: shop-db
      clusterId: shop-aurora
      region: ap-northeast-2
      instanceClass: db.r6g.large
      maxExtraReplicas: 3
      pricePerUnitHour: 0.29
defaults: { ecs: web, aurora: shop-db }
server: { host: 0.0.0.0, port: 8080 }
database: { dataDir: ./state }
replicas: { pollSeconds: 10, timeoutMinutes: 45 }
aws:
  simulate:
    ecs: { web: { desiredCount: 2 } }
`;

/** The smallest valid file: one resource of each kind. */
function minimal(): Record<string, unknown> {
  return {
    resources: {
      ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
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
  };
}

function issuesOf(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

function messageFor(issues: { field: string; message: string }[], field: string): string {
  const found = issues.find((i) => i.field === field);
  assert.ok(found, `no issue for ${field} in ${JSON.stringify(issues)}`);
  return found.message;
}

describe('loadConfig', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'chronops-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a full YAML file', () => {
    // Prepare
    const file = join(dir, 'full.yaml');
    writeFileSync(file, FULL_YAML);

    // Act
    const config = loadConfig(file, NO_ENV);

    // Assess
    assert.equal(config.timezone, 'Asia/Seoul');
    assert.equal(config.dryRun, true);
    assert.deepEqual(config.leadTimes, { ecsMinutes: 5, auroraMinutes: 30, scaleInMinutesAfterOpen: 90 });
    assert.equal(config.graceMinutes, 20);
    assert.deepEqual(config.resources.web, {
      kind: 'ecs',
      name: 'web',
      cluster: 'shop',
      service: 'web',
      region: 'ap-northeast-2',
      maxTasks: 20,
      pricePerUnitHour: 0.05,
    });
    assert.equal(config.resources.api?.kind, 'ecs');
    assert.deepEqual(config.resources['shop-db'], {
      kind: 'aurora',
      name: 'shop-db',
      clusterId: 'shop-aurora',
      region: 'ap-northeast-2',
      instanceClass: 'db.r6g.large',
      maxExtraReplicas: 3,
      pricePerUnitHour: 0.29,
    });
    assert.deepEqual(config.defaults, { ecs: 'web', aurora: 'shop-db' });
    assert.deepEqual(config.server, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(config.database, { dataDir: join(dir, 'state') });
    assert.deepEqual(config.replicas, { pollSeconds: 10, timeoutMinutes: 45 });
    assert.deepEqual(config.aws, { simulate: { ecs: { web: { desiredCount: 2 } } } });
    assert.deepEqual(config.secrets, []);
  });

  it('reads JSON by its extension and resolves dataDir against the file folder', () => {
    // Prepare
    const file = join(dir, 'chronops.json');
    writeFileSync(file, JSON.stringify({ ...minimal(), database: { dataDir: '../elsewhere' } }));

    // Act
    const config = loadConfig(file, NO_ENV);

    // Assess
    assert.equal(config.database.dataDir, resolve(dir, '..', 'elsewhere'));
  });

  it('names the path of a missing file', () => {
    const file = join(dir, 'nope.yaml');
    const issues = issuesOf(() => loadConfig(file, NO_ENV));
    assert.match(
      issues[0]!.message,
      new RegExp(`cannot read ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });

  it('refuses a file that is not YAML, or not JSON', () => {
    const yamlFile = join(dir, 'broken.yaml');
    writeFileSync(yamlFile, 'timezone: [Asia/Seoul\n');
    assert.match(issuesOf(() => loadConfig(yamlFile, NO_ENV))[0]!.message, /not valid YAML/);
    const jsonFile = join(dir, 'broken.json');
    writeFileSync(jsonFile, '{ "timezone": ');
    assert.match(issuesOf(() => loadConfig(jsonFile, NO_ENV))[0]!.message, /not valid JSON/);
  });

  it('refuses an empty file', () => {
    const file = join(dir, 'empty.yaml');
    writeFileSync(file, '');
    assert.equal(issuesOf(() => loadConfig(file, NO_ENV))[0]!.field, 'config');
  });

  it('parses the example file npm start uses', () => {
    // Act
    const config = loadConfig(EXAMPLE, NO_ENV);

    // Assess
    assert.equal(config.timezone, 'Asia/Seoul');
    assert.equal(config.dryRun, true);
    assert.equal(config.resources.web?.kind, 'ecs');
    assert.equal(config.resources['shop-db']?.kind, 'aurora');
    assert.deepEqual(config.defaults, { ecs: 'web', aurora: 'shop-db' });
    assert.equal(config.database.dataDir, fileURLToPath(new URL('../../data', import.meta.url)));
    assert.deepEqual(config.aws.simulate, {
      ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2, scalableTarget: { min: 2, max: 10 } } },
      aurora: {
        'shop-aurora': {
          engine: 'aurora-mysql',
          writer: 'shop-aurora-1',
          readers: ['shop-aurora-2'],
          readySeconds: 700,
        },
      },
      ec2: { 'i-0a1b2c3d4e5f60001': { state: 'running' } },
      rds: { 'reports-db': { engine: 'postgres', status: 'available' } },
      clusters: ['pricing'],
      taskDefinitions: {
        pricechecker: {
          revision: 3,
          containers: [{ name: 'checker', exitCode: 0 }],
          startSeconds: 15,
          runSeconds: 45,
        },
      },
    });
    assert.deepEqual(
      config.rules.rules.map((r) => r.name),
      ['price-list', 'ecs-task-failed'],
    );
    assert.deepEqual(config.rules.rules[0]?.match.topicArns, [
      'arn:aws:sns:us-east-1:278350005181:price-list-api',
    ]);
    assert.equal(config.rules.tasks.pricing?.cluster, 'pricing');
    // The SNS subscription endpoint of the rule's source: POST /sns/price-list, on with no secret to set.
    assert.deepEqual(
      config.sources.on.map((c) => [c.kind, c.name, c.kind === 'sns' ? c.topics : []]),
      [['sns', 'price-list', ['arn:aws:sns:us-east-1:278350005181:price-list-api']]],
    );
    // The demo's JANDI room is off without JANDI_TOKEN (/jandi/webhook answers 404 saying so)
    assert.deepEqual(
      config.sources.off.map((o) => [o.kind, o.name, o.reason]),
      [['jandi', 'webhook', 'the jandi source webhook is off: JANDI_TOKEN is not set']],
    );
    // Office hours on the simulated resources
    assert.deepEqual(Object.keys(config.power.schedules), ['office-hours']);
    assert.deepEqual(
      Object.values(config.power.resources)
        .map((r) => `${r.kind} ${r.name} ${r.schedule}`)
        .sort(),
      ['ec2 batch-1 office-hours', 'ecs web office-hours', 'rds reports-db office-hours'],
    );
    assert.equal(config.power.schedules['office-hours']?.enforced, true);
  });
});

describe('parseConfig', () => {
  it('fills every default', () => {
    // Act
    const config = parseConfig(minimal(), NO_ENV, { baseDir: '/srv/chronops' });

    // Assess
    assert.equal(config.timezone, 'UTC');
    assert.equal(config.dryRun, false);
    assert.deepEqual(config.leadTimes, { ecsMinutes: 10, auroraMinutes: 25, scaleInMinutesAfterOpen: 60 });
    assert.equal(config.graceMinutes, 15);
    assert.deepEqual(config.server, { host: '127.0.0.1', port: 3000 });
    assert.deepEqual(config.database, { dataDir: '/srv/chronops/data' });
    assert.deepEqual(config.replicas, { pollSeconds: 30, timeoutMinutes: 60 });
    assert.deepEqual(config.aws, {});
    assert.deepEqual(config.secrets, []);
    assert.equal(config.resources.web?.pricePerUnitHour, undefined);
  });

  it('makes a lone resource of a kind its default', () => {
    const config = parseConfig(minimal(), NO_ENV);
    assert.deepEqual(config.defaults, { ecs: 'web', aurora: 'shop-db' });
  });

  it('has no default for a kind with several resources unless one is named', () => {
    // Prepare
    const raw = minimal();
    const resources = raw.resources as { ecs: Record<string, unknown>[] };
    resources.ecs.push({
      name: 'api',
      cluster: 'shop',
      service: 'api',
      region: 'ap-northeast-2',
      maxTasks: 5,
    });

    // Act
    const unnamed = parseConfig(raw, NO_ENV);
    const named = parseConfig({ ...raw, defaults: { ecs: 'api' } }, NO_ENV);

    // Assess
    assert.deepEqual(unnamed.defaults, { aurora: 'shop-db' });
    assert.deepEqual(named.defaults, { ecs: 'api', aurora: 'shop-db' });
  });

  it('refuses a default that is unknown or of the other kind', () => {
    // Act
    const issues = issuesOf(() =>
      parseConfig({ ...minimal(), defaults: { ecs: 'shop-db', aurora: 'nope' } }, NO_ENV),
    );

    // Assess
    assert.match(messageFor(issues, 'defaults.ecs'), /"shop-db" is an aurora cluster, not an ecs service/);
    assert.match(
      messageFor(issues, 'defaults.aurora'),
      /unknown aurora cluster "nope"; configured aurora clusters: shop-db/,
    );
  });

  it('names each bad field', () => {
    // Prepare
    const raw = {
      timezone: 'Asia/Seul',
      dryRun: 'yes',
      leadTimes: { ecsMinutes: -1, auroraMinutes: 2.5, scaleInMinutesAfterOpen: 0 },
      graceMinutes: 'soon',
      resources: {
        ecs: [
          { name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 },
          { name: 'Web_2', cluster: '', service: 'web', region: 'Seoul', maxTasks: 0 },
          { name: 'api', cluster: 'shop', service: 'api', region: 'ap-northeast-2', maxTasks: 1.5 },
        ],
        aurora: [{ name: 'db', region: 'ap-northeast-2', instanceClass: 'r6g.large', maxExtraReplicas: -2 }],
      },
      server: { host: '', port: 70000 },
      database: { url: 'mysql://db/x', dataDir: 3 },
      replicas: { pollSeconds: 0, timeoutMinutes: 'x' },
      aws: { simulate: 'yes' },
    };

    // Act
    const issues = issuesOf(() => parseConfig(raw, NO_ENV));

    // Assess
    assert.match(messageFor(issues, 'timezone'), /IANA time zone/);
    assert.match(messageFor(issues, 'dryRun'), /true or false/);
    assert.match(messageFor(issues, 'leadTimes.ecsMinutes'), /0 or more/);
    assert.match(messageFor(issues, 'leadTimes.auroraMinutes'), /whole number/);
    assert.match(messageFor(issues, 'leadTimes.scaleInMinutesAfterOpen'), /positive integer/);
    assert.match(messageFor(issues, 'graceMinutes'), /whole number of minutes/);
    assert.match(messageFor(issues, 'resources.ecs[1].name'), /a-z, 0-9/);
    assert.match(messageFor(issues, 'resources.ecs[1].cluster'), /non-empty/);
    assert.match(messageFor(issues, 'resources.ecs[1].region'), /AWS region/);
    assert.equal(messageFor(issues, 'resources.ecs[1].maxTasks'), 'must be a positive integer');
    assert.equal(messageFor(issues, 'resources.ecs[2].maxTasks'), 'must be a positive integer');
    assert.equal(messageFor(issues, 'resources.aurora[0].clusterId'), 'is required');
    assert.match(messageFor(issues, 'resources.aurora[0].instanceClass'), /db\.r6g\.large/);
    assert.equal(messageFor(issues, 'resources.aurora[0].maxExtraReplicas'), 'must be a positive integer');
    assert.match(messageFor(issues, 'server.host'), /non-empty/);
    assert.match(messageFor(issues, 'server.port'), /0 to 65535/);
    assert.match(messageFor(issues, 'database.url'), /postgres:\/\//);
    assert.match(messageFor(issues, 'database.dataDir'), /string/);
    assert.equal(messageFor(issues, 'replicas.pollSeconds'), 'must be a positive integer');
    assert.equal(messageFor(issues, 'replicas.timeoutMinutes'), 'must be a positive integer');
    assert.match(messageFor(issues, 'aws.simulate'), /mapping/);
    assert.equal(
      issues.some((i) => i.field.startsWith('resources.ecs[0]')),
      false,
    );
  });

  it('puts the field in the error message', () => {
    const raw = minimal();
    (raw.resources as { ecs: { maxTasks: number }[] }).ecs[0]!.maxTasks = -3;
    assert.throws(() => parseConfig(raw, NO_ENV), {
      name: 'ConfigError',
      message: 'resources.ecs[0].maxTasks: must be a positive integer',
    });
  });

  it('refuses unknown keys, at the top level and inside', () => {
    // Act
    const issues = issuesOf(() =>
      parseConfig({ ...minimal(), timezon: 'Asia/Seoul', server: { prot: 3000 } }, NO_ENV),
    );

    // Assess
    assert.match(messageFor(issues, 'timezon'), /unknown key.*known keys: timezone, dryRun/);
    assert.match(messageFor(issues, 'server.prot'), /unknown key/);
  });

  it('refuses a name used twice, even across kinds', () => {
    // Prepare
    const raw = minimal();
    const resources = raw.resources as { aurora: Record<string, unknown>[] };
    resources.aurora[0]!.name = 'web';

    // Act
    const issues = issuesOf(() => parseConfig(raw, NO_ENV));

    // Assess
    assert.match(
      messageFor(issues, 'resources.aurora[0].name'),
      /"web" is already used by resources\.ecs\[0\]/,
    );
  });

  it('takes a missing region from AWS_REGION, else says how to give one', () => {
    // Prepare
    const raw = minimal();
    const resources = raw.resources as { ecs: Record<string, unknown>[]; aurora: Record<string, unknown>[] };
    delete resources.ecs[0]!.region;
    delete resources.aurora[0]!.region;

    // Act
    const withEnv = parseConfig(raw, { AWS_REGION: 'us-east-1' });
    const issues = issuesOf(() => parseConfig(raw, NO_ENV));

    // Assess
    assert.equal(withEnv.resources.web?.region, 'us-east-1');
    assert.equal(withEnv.resources['shop-db']?.region, 'us-east-1');
    assert.equal(messageFor(issues, 'resources.ecs[0].region'), 'is required (or set AWS_REGION)');
    assert.equal(messageFor(issues, 'resources.aurora[0].region'), 'is required (or set AWS_REGION)');
  });

  it('lets PORT, HOST, DATABASE_URL and CHRONOPS_DRY_RUN override the file', () => {
    // Prepare
    const raw = { ...minimal(), dryRun: false, server: { host: '127.0.0.1', port: 3000 } };
    const env = {
      PORT: '8081',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://chronops:s3cr%2Ft@127.0.0.1:5432/chronops',
      CHRONOPS_DRY_RUN: 'true',
    };

    // Act
    const config = parseConfig(raw, env);

    // Assess
    assert.deepEqual(config.server, { host: '0.0.0.0', port: 8081 });
    assert.equal(config.database.url, env.DATABASE_URL);
    assert.equal(config.dryRun, true);
    assert.deepEqual(config.secrets, ['s3cr%2Ft', 's3cr/t']);
  });

  it('reads CHRONOPS_DRY_RUN as 1/true or 0/false', () => {
    assert.equal(parseConfig(minimal(), { CHRONOPS_DRY_RUN: '1' }).dryRun, true);
    assert.equal(parseConfig({ ...minimal(), dryRun: true }, { CHRONOPS_DRY_RUN: '0' }).dryRun, false);
    assert.equal(parseConfig({ ...minimal(), dryRun: true }, { CHRONOPS_DRY_RUN: 'false' }).dryRun, false);
    assert.equal(parseConfig({ ...minimal(), dryRun: true }, { CHRONOPS_DRY_RUN: '' }).dryRun, true);
  });

  it('names a bad environment variable', () => {
    const issues = issuesOf(() =>
      parseConfig(minimal(), { PORT: 'eighty', DATABASE_URL: 'sqlite:x.db', CHRONOPS_DRY_RUN: 'maybe' }),
    );
    assert.deepEqual(
      issues.map((i) => i.field),
      ['PORT (environment)', 'DATABASE_URL (environment)', 'CHRONOPS_DRY_RUN (environment)'],
    );
  });

  it('keeps the password of a database URL from the file as a secret', () => {
    const config = parseConfig({ ...minimal(), database: { url: 'postgresql://u:pw@db:5432/x' } }, NO_ENV);
    assert.equal(config.database.url, 'postgresql://u:pw@db:5432/x');
    assert.deepEqual(config.secrets, ['pw']);
  });

  it('refuses something that is not a mapping', () => {
    assert.equal(issuesOf(() => parseConfig(null, NO_ENV))[0]!.field, 'config');
    assert.equal(issuesOf(() => parseConfig(['x'], NO_ENV))[0]!.field, 'config');
  });
});

describe('resolveConfigPath', () => {
  it('prefers --config, then CHRONOPS_CONFIG, as absolute paths', () => {
    assert.equal(
      resolveConfigPath('/etc/chronops.yaml', { CHRONOPS_CONFIG: '/x.yaml' }),
      '/etc/chronops.yaml',
    );
    assert.equal(resolveConfigPath(undefined, { CHRONOPS_CONFIG: '/x.yaml' }), '/x.yaml');
    assert.equal(resolveConfigPath('rel.yaml', NO_ENV), resolve('rel.yaml'));
  });

  it('says how to give a config when there is none', () => {
    const issues = issuesOf(() => resolveConfigPath(undefined, NO_ENV));
    assert.equal(issues[0]!.field, '--config');
    assert.match(issues[0]!.message, /--config .*CHRONOPS_CONFIG/);
  });
});

describe('parseConfig: chat', () => {
  it('reads locale (en by default) and permission rules under any command key', () => {
    const config = parseConfig(
      { ...minimal(), locale: 'ko', slack: { permissions: { 'jobs.run': { channels: ['C0OPS'] } } } },
      NO_ENV,
    );
    assert.equal(config.locale, 'ko');
    assert.deepEqual(config.slack.permissions, { 'jobs.run': { channels: ['C0OPS'] } });
    assert.equal(parseConfig(minimal(), NO_ENV).locale, 'en');
  });

  it('reads JANDI and Teams permissions by room name, e-mail and id', () => {
    const config = parseConfig(
      {
        ...minimal(),
        jandi: { permissions: { 'power.force': { channels: ['ops'], users: ['kim@example.com'] } } },
        teams: { permissions: { 'jobs.run': { users: ['0f1a-aad'] } } },
      },
      NO_ENV,
    );
    assert.deepEqual(config.jandi.permissions, {
      'power.force': { channels: ['ops'], users: ['kim@example.com'] },
    });
    assert.deepEqual(config.teams.permissions, { 'jobs.run': { users: ['0f1a-aad'] } });
    assert.match(
      messageFor(
        issuesOf(() =>
          parseConfig({ ...minimal(), jandi: { permissions: { x: { userGroups: ['S1'] } } } }, NO_ENV),
        ),
        'jandi.permissions.x.userGroups',
      ),
      /unknown key/,
    );
  });

  it('names a locale it does not speak and a malformed permission key', () => {
    const issues = issuesOf(() =>
      parseConfig({ ...minimal(), locale: 'fr', slack: { permissions: { 'Jobs Run': {} } } }, NO_ENV),
    );
    assert.match(messageFor(issues, 'locale'), /must be one of en, ko/);
    assert.match(messageFor(issues, 'slack.permissions.Jobs Run'), /permission key/);
  });
});
