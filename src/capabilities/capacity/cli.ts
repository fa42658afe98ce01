import { Command, InvalidArgumentError } from 'commander';
import { DateTime } from 'luxon';
import {
  type ApiClient,
  CliError,
  CONFIG_OPTION_HELP,
  type GlobalOptions,
  cliAction as run,
} from '../../cli/client.ts';

interface Ask {
  resource?: string;
  amount: number;
}

/** `--ecs web=12`, `--ecs 12` (the default service), `--rds shop-db=+2`, `--rds +2`. */
export function parseAsk(value: string, previous: Ask[] = []): Ask[] {
  const m = /^(?:([a-z0-9][a-z0-9-]*)=)?\+?(\d+)$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected [NAME=]N, e.g. web=12 or 12 (got "${value}")`);
  return [...previous, { ...(m[1] ? { resource: m[1] } : {}), amount: Number(m[2]) }];
}

interface WindowJson {
  id: string;
  name: string;
  status: string;
  dryRun: boolean;
  createdBy: string;
  holds: Array<{ resource: string; kind: string; amount: number; from: string; until: string }>;
}
interface TransitionJson {
  id: string;
  resource: string;
  kind: string;
  dueAt: string;
  status: string;
  error?: string | null;
}

function fmt(iso: string, zone: string): string {
  return DateTime.fromISO(iso).setZone(zone).toFormat('yyyy-MM-dd HH:mm');
}

function describeWindow(w: WindowJson, zone: string): string {
  const lines = [`${w.id}  ${w.name}  [${w.status}${w.dryRun ? ', dry-run' : ''}]  by ${w.createdBy}`];
  for (const h of w.holds) {
    const amount =
      h.kind === 'ecs' ? `${h.amount} tasks` : `+${h.amount} ${h.amount === 1 ? 'reader' : 'readers'}`;
    lines.push(
      `  ${h.kind.padEnd(6)} ${h.resource.padEnd(16)} ${amount.padEnd(12)} ${fmt(h.from, zone)} → ${fmt(h.until, zone)}`,
    );
  }
  return lines.join('\n');
}

async function zoneOf(client: ApiClient): Promise<string> {
  const health = await client
    .call<{ timezone?: string }>('GET', '/healthz')
    .catch(() => ({ timezone: undefined }));
  return health.timezone ?? 'UTC';
}

export function windowsCommand(): Command {
  const windows = new Command('windows')
    .description('capacity windows (talks to a running chronops server)')
    .option(
      '--server <url>',
      'chronops server URL (default $CHRONOPS_URL, else the config file, else http://127.0.0.1:$PORT)',
    )
    .option('-c, --config <path>', CONFIG_OPTION_HELP)
    .option('--token <token>', 'bearer token, when the server requires one (default $CHRONOPS_TOKEN)')
    .option('--json', 'print JSON');

  windows
    .command('create')
    .description('plan a window: hold ECS tasks and/or extra Aurora readers between two times')
    .option('--ecs <[name=]tasks>', 'ECS service and task count to hold (repeatable)', parseAsk)
    .option('--rds <[name=][+]readers>', 'Aurora cluster and number of extra readers (repeatable)', parseAsk)
    .option('--at <time>', 'start, "YYYY-MM-DD HH:mm" in the configured time zone (or ISO 8601 with offset)')
    .option('--until <time>', 'end: "YYYY-MM-DD HH:mm" or "HH:mm"')
    .option('--open <time>', 'opening time; with --auto, lead times come from the config')
    .option('--auto', 'compute scale-out and scale-in times from --open')
    .option('--name <name>', 'what the window is for (a product id, a label)')
    .option('--dry-run', 'record the AWS calls instead of sending them')
    .addHelpText(
      'after',
      '\nExamples:\n  chronops windows create --ecs web=12 --rds shop-db=+2 --at "2026-11-23 16:00" --until "2026-11-23 17:30"\n  chronops windows create --ecs 12 --rds 2 --open "2026-11-23 16:00" --auto --name 12377',
    )
    .action(
      run(async (client, options) => {
        const o = options as GlobalOptions & {
          ecs?: Ask[];
          rds?: Ask[];
          at?: string;
          until?: string;
          open?: string;
          auto?: boolean;
          name?: string;
          dryRun?: boolean;
        };
        let timing: { mode: 'explicit'; at: string; until: string } | { mode: 'auto'; open: string };
        if (o.auto || o.open) {
          if (!o.auto || !o.open)
            throw new CliError('--auto and --open go together: --open "2026-11-23 16:00" --auto');
          if (o.at || o.until) throw new CliError('use either --at/--until or --open/--auto, not both');
          timing = { mode: 'auto', open: o.open };
        } else {
          if (!o.at || !o.until) throw new CliError('give --at and --until, or --open with --auto');
          timing = { mode: 'explicit', at: o.at, until: o.until };
        }
        if (!o.ecs && !o.rds) throw new CliError('nothing to scale: give --ecs and/or --rds');
        const created = await client.call<{
          window: WindowJson;
          transitions: TransitionJson[];
          warnings: string[];
        }>('POST', '/api/windows', {
          name: o.name,
          ecs: o.ecs,
          aurora: o.rds,
          timing,
          dryRun: o.dryRun || undefined,
        });
        if (o.json) return void console.log(JSON.stringify(created, null, 2));
        const zone = await zoneOf(client);
        console.log(`created window ${created.window.id}\n${describeWindow(created.window, zone)}`);
        for (const w of created.warnings) console.log(`warning: ${w}`);
      }),
    );

  windows
    .command('list')
    .description('scheduled and active windows (--all for every window)')
    .option('--all', 'include done and cancelled windows')
    .action(
      run(async (client, options) => {
        const all = (options as { all?: boolean }).all;
        const { windows: list } = await client.call<{ windows: WindowJson[] }>(
          'GET',
          `/api/windows${all ? '?status=all' : ''}`,
        );
        if (options.json) return void console.log(JSON.stringify(list, null, 2));
        if (list.length === 0) return void console.log(all ? 'no windows' : 'no scheduled or active windows');
        const zone = await zoneOf(client);
        console.log(list.map((w) => describeWindow(w, zone)).join('\n'));
      }),
    );

  windows
    .command('show <id>')
    .description('a window with its transitions and what each did')
    .action(
      run(async (client, options, args) => {
        const id = String(args[0]);
        const details = await client.call<{
          window: WindowJson;
          transitions: TransitionJson[];
          executions: Array<{
            id: string;
            transitionId: string;
            status: string;
            fromState: string;
            toState: string;
            dryRun: boolean;
            error: string | null;
          }>;
          calls: Array<{
            executionId: string;
            action: string;
            outcome: string;
            details: { input?: unknown };
          }>;
        }>('GET', `/api/windows/${encodeURIComponent(id)}`);
        if (options.json) return void console.log(JSON.stringify(details, null, 2));
        const zone = await zoneOf(client);
        console.log(describeWindow(details.window, zone));
        console.log('transitions:');
        for (const t of details.transitions as Array<TransitionJson & { coveredBy?: string | null }>) {
          // Its own execution, or the one that covered it (another transition of the resource due at the same time).
          const runs = details.executions.filter((e) => e.transitionId === t.id || e.id === t.coveredBy);
          const what = runs
            .map((e) =>
              e.status === 'failed'
                ? `failed: ${e.error}`
                : `${e.fromState} → ${e.toState}${e.dryRun ? ' (dry-run)' : ''}`,
            )
            .join('; ');
          console.log(
            `  ${fmt(t.dueAt, zone)}  ${t.kind.padEnd(9)} ${t.resource.padEnd(16)} ${t.status.padEnd(9)} ${what || t.error || ''}`,
          );
          for (const call of details.calls
            .filter((c) => runs.some((e) => e.id === c.executionId))
            .reverse()) {
            console.log(
              `      ${call.outcome.padEnd(8)} ${call.action.replace(/^aws:/, '')} ${JSON.stringify(call.details.input ?? {})}`,
            );
          }
        }
      }),
    );

  windows
    .command('cancel <id>')
    .description('cancel a window; if it is active, its resources go back to what the plan says without it')
    .action(
      run(async (client, options, args) => {
        const id = String(args[0]);
        const { window } = await client.call<{ window: WindowJson }>(
          'POST',
          `/api/windows/${encodeURIComponent(id)}/cancel`,
        );
        if (options.json) return void console.log(JSON.stringify(window, null, 2));
        console.log(`cancelled window ${window.id} (${window.name})`);
      }),
    );

  return windows;
}
