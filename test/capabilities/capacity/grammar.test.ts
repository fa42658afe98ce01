import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Command,
  type ParsedCommand,
  parseCommand,
  usage,
} from '../../../src/capabilities/capacity/grammar.ts';
import { normalizeSlackText } from '../../../src/chat/grammar.ts';

function ok(text: string): Command {
  const parsed = parseCommand(text);
  assert.ok(parsed.ok, `expected ${JSON.stringify(text)} to parse, got ${JSON.stringify(parsed)}`);
  return parsed.command;
}

function refused(text: string): Extract<ParsedCommand, { ok: false }> {
  const parsed = parseCommand(text);
  assert.ok(!parsed.ok, `expected ${JSON.stringify(text)} to be refused, got ${JSON.stringify(parsed)}`);
  return parsed;
}

/** The refusal must carry the usage of exactly that command (or of all commands when `command` is undefined). */
function assertRefused(text: string, error: RegExp, command?: string) {
  const parsed = refused(text);
  assert.match(parsed.error, error);
  assert.equal(parsed.usage, usage(command));
}

describe('parseCommand: commands', () => {
  it('create with every option', () => {
    assert.deepEqual(ok('create 2 --ecs 12 --rds 2 --auto'), {
      name: 'create',
      product: 2,
      ecs: { amount: 12 },
      rds: { amount: 2 },
      timing: { mode: 'auto' },
      dryRun: false,
    });
    assert.deepEqual(
      ok('create 3 --ecs web=8 --rds main=+1 --time "2026-11-23 16:00" --until "2026-11-23 17:30" --dry-run'),
      {
        name: 'create',
        product: 3,
        ecs: { resource: 'web', amount: 8 },
        rds: { resource: 'main', amount: 1 },
        timing: { mode: 'explicit', at: '2026-11-23 16:00', until: '2026-11-23 17:30' },
        dryRun: true,
      },
    );
  });

  it('create defaults to --auto and accepts --rds alone and +N', () => {
    assert.deepEqual(ok('create 1 --rds +2'), {
      name: 'create',
      product: 1,
      rds: { amount: 2 },
      timing: { mode: 'auto' },
      dryRun: false,
    });
  });

  it('create with --time only, a time-only --until, and resource names with / and .', () => {
    const command = ok('create 4 --ecs shop/web.v2=3 --time 2026-11-23 9:05 --until 17:30');
    assert.deepEqual(command, {
      name: 'create',
      product: 4,
      ecs: { resource: 'shop/web.v2', amount: 3 },
      timing: { mode: 'explicit', at: '2026-11-23 09:05', until: '17:30' },
      dryRun: false,
    });
    assert.deepEqual(ok('create 4 --ecs 3 --time 2026-11-23T16:00'), {
      name: 'create',
      product: 4,
      ecs: { amount: 3 },
      timing: { mode: 'explicit', at: '2026-11-23 16:00' },
      dryRun: false,
    });
  });

  it('options in any order, --opt=value, #N and N번 product numbers', () => {
    assert.deepEqual(ok('create --ecs=12 --dry-run 5 --rds=+1'), {
      name: 'create',
      product: 5,
      ecs: { amount: 12 },
      rds: { amount: 1 },
      timing: { mode: 'auto' },
      dryRun: true,
    });
    assert.equal((ok('create #7 --ecs 2') as { product: number }).product, 7);
    assert.equal((ok('create 7번 --ecs 2') as { product: number }).product, 7);
    assert.equal((ok('create 7 --ecs 12개') as { ecs: { amount: number } }).ecs.amount, 12);
    assert.equal((ok('create 7 --ecs 2 --dryrun') as { dryRun: boolean }).dryRun, true);
  });

  it('list, delete, help', () => {
    assert.deepEqual(ok('list'), { name: 'list' });
    assert.deepEqual(ok('delete w_8f3k2'), { name: 'delete', id: 'w_8f3k2' });
    assert.deepEqual(ok('delete #w-1'), { name: 'delete', id: 'w-1' });
    assert.deepEqual(ok('help'), { name: 'help' });
    assert.deepEqual(ok('help now'), { name: 'help', topic: 'now' });
    assert.deepEqual(ok('create --help'), { name: 'help', topic: 'create' });
    assert.deepEqual(ok('now -h'), { name: 'help', topic: 'now' });
  });

  it('now with its default and --for durations', () => {
    assert.deepEqual(ok('now --ecs 12 --rds 2'), {
      name: 'now',
      ecs: { amount: 12 },
      rds: { amount: 2 },
      forMinutes: 60,
      dryRun: false,
    });
    const minutes = (text: string) => (ok(text) as { forMinutes: number }).forMinutes;
    assert.equal(minutes('now --ecs 1 --for 90m'), 90);
    assert.equal(minutes('now --ecs 1 --for 2h'), 120);
    assert.equal(minutes('now --ecs 1 --for 1h30m'), 90);
    assert.equal(minutes('now --ecs 1 --for 1h 30m'), 90);
    assert.equal(minutes('now --ecs 1 --for 45'), 45);
    assert.equal(minutes('now --ecs 1 --for 2시간'), 120);
    assert.deepEqual(ok('now --rds main=+1 --dry-run'), {
      name: 'now',
      rds: { resource: 'main', amount: 1 },
      forMinutes: 60,
      dryRun: true,
    });
  });

  it('is case-insensitive for the command and the options', () => {
    assert.deepEqual(ok('CREATE 2 --ECS 12 --Auto'), ok('create 2 --ecs 12 --auto'));
  });
});

describe('parseCommand: Slack formatting', () => {
  const expected = ok('create 2 --ecs 12 --auto');

  it('strips mentions anywhere', () => {
    assert.deepEqual(ok('<@U123ABC> create 2 --ecs 12 --auto'), expected);
    assert.deepEqual(ok('create 2 <@U123ABC|chronops> --ecs 12 --auto <@W9>'), expected);
    assert.deepEqual(ok('<@U123ABC>create 2 --ecs 12 --auto'), expected);
    assert.deepEqual(ok('<!here> create 2 --ecs 12 --auto'), expected);
  });

  it('straightens smart quotes', () => {
    const command = ok('create 2 --ecs 12 --time “2026-11-23 16:00” --until ‘2026-11-23 17:00’');
    assert.deepEqual((command as { timing: unknown }).timing, {
      mode: 'explicit',
      at: '2026-11-23 16:00',
      until: '2026-11-23 17:00',
    });
  });

  it('turns links into their label, or their url', () => {
    assert.deepEqual(ok('<https://example.com/help|create> 2 --ecs 12 --auto'), expected);
    assert.deepEqual(ok('delete <https://chronops.example/w/w_1|w_1>'), { name: 'delete', id: 'w_1' });
    assert.deepEqual(ok('create 2 --ecs <https://example.com/web|web>=12'), ok('create 2 --ecs web=12'));
    assert.equal(
      normalizeSlackText('see <https://x.test/a|the docs> and <https://x.test/b>'),
      'see the docs and https://x.test/b',
    );
  });

  it('decodes &lt; &gt; &amp; after reading the markup', () => {
    assert.equal(normalizeSlackText('a &lt;@U1&gt; &amp;lt; b'), 'a <@U1> &lt; b');
    assert.deepEqual(ok('&gt; create 2 --ecs 12 --auto'), expected);
    assertRefused('create 2 --ecs &lt;12&gt;', /--ecs wants a positive whole number .*got "<12>"/, 'create');
  });

  it('tolerates non-breaking, repeated and odd spaces, tabs and newlines', () => {
    assert.deepEqual(ok('create\u00a02\u00a0\u00a0--ecs   12\t--auto'), expected);
    assert.deepEqual(ok('create 2\n--ecs 12\u3000--auto\u200b'), expected);
    assert.deepEqual(ok('create&nbsp;2 --ecs 12 --auto'), expected);
  });

  it('reads em and en dashes as --', () => {
    assert.deepEqual(ok('create 2 —ecs 12 —auto'), expected);
    assert.deepEqual(ok('create 2 –ecs 12 –auto'), expected);
    assert.deepEqual(ok('create 2 —ecs=12 -auto'), expected);
    assert.equal((ok('create 2 --ecs 1 —dry-run') as { dryRun: boolean }).dryRun, true);
  });

  it('finds the command inside Korean text', () => {
    assert.deepEqual(ok('<@U1> 이거 create 2 --ecs 12 --auto 부탁해요'), expected);
    assert.deepEqual(ok('<@U1> 이거 create 2 --ecs 12 --auto 부탁해요 :pray: ASAP'), expected);
    assert.deepEqual(ok('안녕하세요! create 2 --ecs 12 으로 --auto 해주세요 🙏'), expected);
    assert.deepEqual(ok('`create 2 --ecs 12 --auto`'), expected);
  });
});

describe('parseCommand: refusals carry the usage of that command', () => {
  it('unknown command → the list of commands', () => {
    const parsed = refused('<@U1> scale 2 --ecs 12');
    assert.match(parsed.error, /unknown command "scale"; commands: create, list, delete, now, help/);
    assert.equal(parsed.usage, usage());
    assertRefused('<@U1> 안녕하세요', /no command found/);
    assertRefused('', /no command found/);
    assertRefused('help frobnicate', /unknown command "frobnicate"/);
  });

  it('create: missing product, bad product, no resources', () => {
    assertRefused('create --ecs 12', /create needs the product number/, 'create');
    assertRefused(
      'create two --ecs 12',
      /product number must be a positive whole number, got "two"/,
      'create',
    );
    assertRefused('create 0 --ecs 12', /product number must be a positive whole number, got "0"/, 'create');
    assertRefused('create 2', /create needs --ecs and\/or --rds/, 'create');
    assertRefused('create 2 --auto', /create needs --ecs and\/or --rds/, 'create');
  });

  it('create: amounts must be positive integers', () => {
    assertRefused('create 2 --ecs 0', /--ecs wants a positive whole number .*got "0"/, 'create');
    assertRefused('create 2 --ecs 1.5', /--ecs wants a positive whole number .*got "1.5"/, 'create');
    assertRefused('create 2 --rds -1', /--rds wants a positive whole number .*got "-1"/, 'create');
    assertRefused('create 2 --rds=-1', /--rds wants a positive whole number .*got "-1"/, 'create');
    assertRefused('create 2 --rds +0', /--rds wants a positive whole number/, 'create');
    assertRefused('create 2 --ecs lots', /--ecs wants a positive whole number .*got "lots"/, 'create');
    assertRefused('create 2 --ecs +3', /--ecs is the task count to hold, not an increase/, 'create');
  });

  it('create: bad flags and missing values', () => {
    assertRefused(
      'create 2 --ecs 12 --fast',
      /unknown option "--fast" for create \(options: --ecs, --rds/,
      'create',
    );
    assertRefused('create 2 --ecs', /--ecs needs a value/, 'create');
    assertRefused('create 2 --ecs --rds 2', /--ecs needs a value/, 'create');
    assertRefused('create 2 --ecs 1 --time', /--time needs a value/, 'create');
    assertRefused('create 2 --ecs 1 --ecs 2', /--ecs is given twice/, 'create');
    assertRefused('create 2 --ecs 1 --auto=yes', /--auto takes no value/, 'create');
    assertRefused('create 2 3 --ecs 1', /unexpected "3" after create 2/, 'create');
    assertRefused('create 2 --ecs 1 please', /unexpected "please"/, 'create');
  });

  it('create: timing rules', () => {
    assertRefused(
      'create 2 --ecs 12 --auto --time "2026-11-23 16:00"',
      /either --auto or --time, not both/,
      'create',
    );
    assertRefused('create 2 --ecs 12 --until "2026-11-23 17:00"', /--until needs --time/, 'create');
    assertRefused(
      'create 2 --ecs 12 --time tomorrow',
      /--time wants "YYYY-MM-DD HH:mm", got "tomorrow"/,
      'create',
    );
    assertRefused('create 2 --ecs 12 --time 2026-11-23', /a date needs a time too/, 'create');
    assertRefused(
      'create 2 --ecs 12 --time "2026-02-30 10:00"',
      /"2026-02-30 10:00" is not a valid date/,
      'create',
    );
    assertRefused('create 2 --ecs 12 --time 24:00', /--time "24:00" is not a valid date and time/, 'create');
    assertRefused(
      'create 2 --ecs 12 --time "2026-11-23 16:00" --until "2026-11-23 15:00"',
      /--until \(2026-11-23 15:00\) must be after --time \(2026-11-23 16:00\)/,
      'create',
    );
  });

  it('now, delete, list', () => {
    assertRefused('now', /now needs --ecs and\/or --rds/, 'now');
    assertRefused(
      'now --ecs 2 --for soon',
      /--for wants a duration like 90m, 2h or 1h30m, got "soon"/,
      'now',
    );
    assertRefused('now --ecs 2 --for 0m', /--for wants a duration/, 'now');
    assertRefused('now --ecs 2 --auto', /unknown option "--auto" for now/, 'now');
    assertRefused('delete', /delete needs the id of a window/, 'delete');
    assertRefused('delete w_1 w_2', /unexpected "w_2"/, 'delete');
    assertRefused('delete "w 1"', /"w 1" is not a window id/, 'delete');
    assertRefused('list everything', /list takes no arguments, got "everything"/, 'list');
    assertRefused('list --all', /unknown option "--all" for list \(list takes no options\)/, 'list');
  });
});

describe('usage', () => {
  it('lists every command with one example', () => {
    // Act
    const text = usage();
    // Assess
    for (const line of [
      'create <product#>',
      'e.g. create 2 --ecs 12 --rds 2 --auto',
      'list',
      'delete <id>',
      'now [--ecs',
      '--for 90m|2h|1h30m',
      'help [command]',
    ]) {
      assert.ok(text.includes(line), `usage() lacks ${line}`);
    }
  });

  it('shows one command in detail, and all for an unknown name', () => {
    assert.match(usage('create'), /^Usage: create <product#> \[--ecs \[NAME=\]N\]/);
    assert.match(usage('create'), /Example: create 2 --ecs 12 --rds 2 --auto/);
    assert.match(usage('DELETE'), /^Usage: delete <id>/);
    assert.equal(usage('nope'), usage());
  });
});
