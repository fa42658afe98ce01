// The one command router with registrations shaped like the capabilities': a plain command, a group (`jobs …`), a
// dynamic first word (`<schedule> …`), a button; typos, help, locales, permissions per platform and the audit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigPermissions } from '../../src/chat/permissions.ts';
import type { ChatEvent } from '../../src/chat/port.ts';
import { textReply } from '../../src/chat/reply.ts';
import {
  type Args,
  CommandAnswer,
  type CommandAudit,
  CommandRefusal,
  CommandRouter,
  type RouterOptions,
} from '../../src/chat/router.ts';

const SCHEDULES = ['office-hours', 'night-batch'];

function makeRouter(options: RouterOptions = {}) {
  const runs: Array<{ command: string; input: unknown; words: Record<string, string>; locale: string }> = [];
  const router = new CommandRouter(options);
  const about = (en: string) => ({ en, ko: `(ko) ${en}` });
  router
    .command('list', {
      run: async (input, ctx) => {
        runs.push({ command: 'list', input, words: ctx.words, locale: ctx.locale });
        return [textReply('listed')];
      },
      usage: { syntax: 'list', about: about('List things.'), example: 'list' },
    })
    .command('jobs run', {
      args: 1,
      flags: { wait: { kind: 'switch' } },
      parse: (a: Args) => {
        if (!a.positionals[0]) throw new CommandRefusal('jobs run needs a job name');
        return { job: a.positionals[0], wait: a.switches.has('wait') };
      },
      run: async (input, ctx) => {
        runs.push({ command: 'jobs run', input, words: ctx.words, locale: ctx.locale });
        return { replies: [textReply(`started ${input.job}`)], target: input.job };
      },
      usage: { syntax: 'jobs run <name> [--wait]', about: about('Run a job now.'), example: 'jobs run cms' },
      permission: 'jobs.run',
    })
    .command('jobs list', {
      run: async () => [textReply('jobs')],
      usage: { syntax: 'jobs list', about: about('List jobs.'), example: 'jobs list' },
    })
    .command('<schedule> status', {
      values: { schedule: () => SCHEDULES },
      run: async (input, ctx) => {
        runs.push({ command: 'status', input, words: ctx.words, locale: ctx.locale });
        return [textReply(`status of ${ctx.words.schedule}`)];
      },
      usage: {
        syntax: '<schedule> status',
        about: about('Show a schedule.'),
        example: 'office-hours status',
      },
    })
    .command('<schedule> exception set', {
      values: { schedule: () => SCHEDULES },
      args: 3,
      run: async (input, ctx) => {
        runs.push({ command: 'exception set', input, words: ctx.words, locale: ctx.locale });
        throw new CommandAnswer('conflict', textReply('held by a window'));
      },
      usage: {
        syntax: '<schedule> exception set <date> <start|stop> <h:m>',
        about: about('Set an exception.'),
        example: 'office-hours exception set 2026-12-24 stop 15:00',
      },
      permission: 'power.exception',
      name: 'power.exception.set',
    })
    .action('cancel', {
      permission: 'jobs.run',
      run: async (value) => [textReply(`cancelled ${value}`)],
    });
  return { router, runs };
}

let n = 0;
function event(text: string, extra: Partial<ChatEvent> = {}): ChatEvent {
  n += 1;
  return { platform: 'slack', eventId: `ev${n}`, user: { id: 'U0ALICE' }, channel: 'C0OPS', text, ...extra };
}

describe('CommandRouter: finding the command', () => {
  it('runs a plain command, a group command and a command with a dynamic first word', async () => {
    // Prepare
    const { router, runs } = makeRouter();
    // Act
    const [a] = await router.handle(event('<@U1> list'));
    const [b] = await router.handle(event('jobs RUN cms --wait'));
    const [c] = await router.handle(event('이거 Office-Hours status 부탁해요'));
    // Assess
    assert.equal(a!.text, 'listed');
    assert.equal(b!.text, 'started cms');
    assert.equal(c!.text, 'status of office-hours');
    assert.deepEqual(runs[1]!.input, { job: 'cms', wait: true });
    assert.deepEqual(runs[2]!.words, { schedule: 'office-hours' });
  });

  it('tells the run where answers that come later go: the thread, or the room the door named', async () => {
    const seen: unknown[] = [];
    const router = new CommandRouter().command('go', {
      run: async (_input, ctx) => {
        seen.push(ctx.replyTo);
        return [];
      },
      usage: { syntax: 'go', about: { en: 'go', ko: 'go' }, example: 'go' },
    });
    await router.handle(event('go', { threadTs: '1.1', messageTs: '1.2' }));
    await router.handle(event('go', { messageTs: '2.1' }));
    await router.handle(
      event('go', {
        platform: 'jandi',
        channel: 'ops',
        replyTo: { platform: 'jandi', channel: 'ops', destination: 'ops-room' },
      }),
    );
    assert.deepEqual(seen, [
      { platform: 'slack', channel: 'C0OPS', threadTs: '1.1' },
      { platform: 'slack', channel: 'C0OPS', threadTs: '2.1' },
      { platform: 'jandi', channel: 'ops', destination: 'ops-room' },
    ]);
  });

  it('the longest registration wins: `<schedule> exception set` with three positionals', () => {
    const { router } = makeRouter();
    const parsed = router.parse('night-batch exception set 2026-12-24 stop 15:00');
    assert.ok(parsed.ok && 'registration' in parsed);
    assert.deepEqual((parsed.input as Args).positionals, ['2026-12-24', 'stop', '15:00']);
    assert.equal(parsed.typed, 'night-batch exception set');
  });

  it('a typo in a command gets the nearest command', () => {
    const { router } = makeRouter();
    const parsed = router.parse('lsit');
    assert.ok(!parsed.ok);
    assert.match(
      parsed.error,
      /unknown command "lsit"; commands: list, jobs, <schedule>, help \(did you mean "list"\?\)/,
    );
    assert.equal(parsed.usage, router.usage());
  });

  it('a typo in a dynamic name gets the nearest name and the usage of that command', () => {
    const { router } = makeRouter();
    const parsed = router.parse('offce-hours status');
    assert.ok(!parsed.ok);
    assert.match(
      parsed.error,
      /unknown schedule "offce-hours"; known: office-hours, night-batch \(did you mean "office-hours"\?\)/,
    );
    assert.match(parsed.usage, /^Usage: <schedule> status/);
  });

  it('a typo in a sub-command gets the group commands and the nearest one', () => {
    const { router } = makeRouter();
    const jobs = router.parse('jobs rnu cms');
    const schedule = router.parse('office-hours stauts');
    const bare = router.parse('jobs');
    assert.ok(!jobs.ok && !schedule.ok && !bare.ok);
    assert.match(
      jobs.error,
      /"rnu" is not a command of jobs; its commands: run, list \(did you mean "run"\?\)/,
    );
    assert.match(jobs.usage, /jobs run <name>[\s\S]*jobs list/);
    assert.match(
      schedule.error,
      /"stauts" is not a command of office-hours; its commands: status, exception \(did you mean "status"\?\)/,
    );
    assert.match(bare.error, /jobs needs a command: run, list/);
  });

  it('a word nothing is near gets the list without a guess', () => {
    const { router } = makeRouter();
    const parsed = router.parse('frobnicate');
    assert.ok(!parsed.ok);
    assert.doesNotMatch(parsed.error, /did you mean/);
  });

  it('refusals of parse and of the option reader carry the usage of that command', () => {
    const { router } = makeRouter();
    const missing = router.parse('jobs run');
    const flag = router.parse('jobs run cms --fast');
    assert.ok(!missing.ok && !flag.ok);
    assert.equal(missing.error, 'jobs run needs a job name');
    assert.match(
      missing.usage,
      /^Usage: jobs run <name> \[--wait\]\nRun a job now\.\nExample: jobs run cms$/,
    );
    assert.match(flag.error, /unknown option "--fast" for jobs run \(options: --wait\)/);
  });
});

describe('CommandRouter: help', () => {
  it('is built from every registration, by group and for one command', async () => {
    const { router } = makeRouter();
    const [all] = await router.handle(event('help'));
    const [group] = await router.handle(event('help jobs'));
    const [schedule] = await router.handle(event('help office-hours'));
    const [one] = await router.handle(event('jobs run --help'));
    for (const line of ['• list', '• jobs run &lt;name&gt;', '• &lt;schedule&gt; status', '• help [command]'])
      assert.ok(all!.text.includes(line), `help lacks ${line}`);
    assert.match(group!.text, /jobs run[\s\S]*jobs list/);
    assert.doesNotMatch(group!.text, /• list/);
    assert.match(schedule!.text, /&lt;schedule&gt; status[\s\S]*&lt;schedule&gt; exception set/);
    assert.match(one!.text, /^Usage: jobs run &lt;name&gt;/);
  });
});

describe('CommandRouter: locale', () => {
  it('answers in Korean when the config says ko, including its own errors and usage', async () => {
    // Prepare
    const { router, runs } = makeRouter({ locale: 'ko' });
    // Act
    const [typo] = await router.handle(event('lsit'));
    const [usage] = await router.handle(event('help jobs run'));
    await router.handle(event('list'));
    // Assess
    assert.match(typo!.text, /알 수 없는 명령 "lsit" 입니다/);
    assert.match(typo!.text, /"list" 을\(를\) 입력하려고 하셨나요/);
    assert.match(usage!.text, /^사용법: jobs run/);
    assert.match(usage!.text, /\(ko\) Run a job now\./);
    assert.equal(runs[0]!.locale, 'ko');
  });

  it('a door that knows the room language overrides the config', async () => {
    const { router, runs } = makeRouter({ locale: 'en' });
    await router.handle(event('list', { locale: 'ko' }));
    assert.equal(runs[0]!.locale, 'ko');
  });
});

describe('CommandRouter: permissions per platform, room and user, and the audit', () => {
  const rules = {
    slack: { 'jobs.run': { channels: ['C0OPS'], users: ['U0ALICE'] } },
    jandi: { 'jobs.run': { channels: ['ops-room'], users: ['kim@example.com'] } },
    teams: { 'power.exception': { users: ['aad-1'] } },
  };

  it('checks the rule of the event platform; other platforms and the console are open', async () => {
    // Prepare
    const audits: CommandAudit[] = [];
    const { router } = makeRouter({
      permissions: new ConfigPermissions({ rules }),
      audit: async (a) => {
        audits.push(a);
      },
    });
    // Act
    const [slackOk] = await router.handle(event('jobs run cms'));
    const [slackRoom] = await router.handle(event('jobs run cms', { channel: 'C0RANDOM' }));
    const [jandiUser] = await router.handle(
      event('jobs run cms', {
        platform: 'jandi',
        channel: 'ops-room',
        user: { id: 'lee@example.com', name: 'Lee' },
      }),
    );
    const [jandiOk] = await router.handle(
      event('jobs run cms', { platform: 'jandi', channel: 'ops-room', user: { id: 'kim@example.com' } }),
    );
    const [teamsOpen] = await router.handle(event('jobs run cms', { platform: 'teams', channel: '19:x' }));
    const [teamsNo] = await router.handle(
      event('office-hours exception set 2026-12-24 stop 15:00', { platform: 'teams', user: { id: 'aad-2' } }),
    );
    const [consoleOk] = await router.handle(
      event('jobs run cms', { platform: 'console', channel: 'console', user: { id: 'console' } }),
    );
    // Assess
    assert.equal(slackOk!.text, 'started cms');
    assert.match(
      slackRoom!.text,
      /^Sorry <@U0ALICE>, I can't do that: `jobs run` is not enabled in this channel\. .*\(slack\.permissions\.jobs\.run\)/,
    );
    assert.match(
      jandiUser!.text,
      /^Sorry Lee, I can't do that: only listed people and groups may use `jobs run`.*jandi\.permissions\.jobs\.run/,
    );
    assert.equal(jandiOk!.text, 'started cms');
    assert.equal(teamsOpen!.text, 'started cms');
    assert.match(teamsNo!.text, /`office-hours exception set`.*teams\.permissions\.power\.exception/);
    assert.equal(consoleOk!.text, 'started cms');
    assert.deepEqual(
      audits.map((a) => [a.source, a.action, a.outcome, a.target]),
      [
        ['slack', 'chat.jobs.run', 'ok', 'cms'],
        ['slack', 'chat.jobs.run', 'refused', null],
        ['jandi', 'chat.jobs.run', 'refused', null],
        ['jandi', 'chat.jobs.run', 'ok', 'cms'],
        ['teams', 'chat.jobs.run', 'ok', 'cms'],
        ['teams', 'chat.power.exception.set', 'refused', null],
        ['console', 'chat.jobs.run', 'ok', 'cms'],
      ],
    );
  });

  it('a CommandAnswer is the reply, audited with its outcome; a malformed command is audited as invalid', async () => {
    const audits: CommandAudit[] = [];
    const { router } = makeRouter({ audit: async (a) => void audits.push(a) });
    const [answer] = await router.handle(event('office-hours exception set 2026-12-24 stop 15:00'));
    const [bad] = await router.handle(event('jobs rnu'));
    assert.equal(answer!.text, 'held by a window');
    assert.match(bad!.text, /^:warning: "rnu" is not a command of jobs/);
    assert.deepEqual(
      audits.map((a) => [a.action, a.outcome]),
      [
        ['chat.power.exception.set', 'conflict'],
        ['chat.invalid', 'invalid'],
      ],
    );
    assert.equal(audits[1]!.details.text, 'jobs rnu');
  });

  it('with `audits`, hands the records of answered commands to the caller and writes those of failures itself', async () => {
    // Prepare
    const written: CommandAudit[] = [];
    const { router } = makeRouter({ audit: async (a) => void written.push(a) });
    router.command('boom', {
      run: async () => {
        throw new Error('the database is down');
      },
      usage: { syntax: 'boom', about: { en: 'x', ko: 'x' }, example: 'boom' },
    });
    const handed: CommandAudit[] = [];
    // Act
    const [listed] = await router.handle(event('list'), { audits: handed });
    const [answer] = await router.handle(event('office-hours exception set 2026-12-24 stop 15:00'), {
      audits: handed,
    });
    const [bad] = await router.handle(event('jobs rnu'), { audits: handed });
    const failed = router.handle(event('boom'), { audits: handed });
    // Assess
    await assert.rejects(failed, /the database is down/);
    assert.equal(listed!.text, 'listed');
    assert.equal(answer!.text, 'held by a window');
    assert.match(bad!.text, /^:warning: /);
    assert.deepEqual(
      handed.map((a) => [a.action, a.outcome, a.details.text]),
      [
        ['chat.list', 'ok', 'list'],
        ['chat.power.exception.set', 'conflict', 'office-hours exception set 2026-12-24 stop 15:00'],
        ['chat.invalid', 'invalid', 'jobs rnu'],
      ],
    );
    assert.deepEqual(
      written.map((a) => [a.action, a.outcome, a.details.error]),
      [['chat.boom', 'error', 'the database is down']],
    );
  });

  it('a button runs its action under its permission; an unknown button is answered, not thrown', async () => {
    const { router } = makeRouter({ permissions: new ConfigPermissions({ rules }) });
    const [ok] = await router.handle(event('[button]', { action: { id: 'cancel', value: 'w1' } }));
    const [no] = await router.handle(
      event('[button]', { user: { id: 'U0BOB' }, action: { id: 'cancel', value: 'w1' } }),
    );
    const [unknown] = await router.handle(event('[button]', { action: { id: 'frob', value: 'x' } }));
    assert.equal(ok!.text, 'cancelled w1');
    assert.match(no!.text, /only listed people and groups may use `jobs.run`/);
    assert.match(unknown!.text, /not one chronops knows \(frob\)/);
  });

  it('names permission rules that no command uses (a typo in the config)', () => {
    const { router } = makeRouter({
      permissions: new ConfigPermissions({ rules: { slack: { 'jobs.run': {}, 'jobs.rnu': {} } } }),
    });
    assert.deepEqual(router.unusedPermissionRules(), [
      { key: 'jobs.rnu', path: 'slack.permissions.jobs.rnu' },
    ]);
    assert.deepEqual(router.permissionKeys().sort(), ['jobs.run', 'power.exception']);
  });

  it('refuses to register the same words twice, or a dynamic word without values', () => {
    const { router } = makeRouter();
    const usage = { syntax: 'list', about: { en: 'x', ko: 'x' }, example: 'list' };
    assert.throws(() => router.command('LIST', { run: async () => [], usage }), /registered twice/);
    assert.throws(() => router.command('<x> go', { run: async () => [], usage }), /no values for <x>/);
  });
});
