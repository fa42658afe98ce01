// `chronops rules …`: the configured rules, what one would do with an event (the exact AWS calls, nothing
// changed), running one now, and the latest runs. Talks to a running chronops (its HTTP API).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CliError, CONFIG_OPTION_HELP, cliAction } from '../../cli/client.ts';

interface RuleJson {
  name: string;
  description?: string;
  match: { sources?: string[]; topicArns?: string[]; pattern?: unknown };
  actions: string[];
  dryRun: boolean;
}
interface CallJson {
  service: string;
  command: string;
  input: unknown;
  dryRun: boolean;
  ok: boolean;
  error?: string;
}
interface TestJson {
  rule: string;
  matches: boolean;
  reason?: string;
  event: { key: string; source: string; kind: string; summary: string };
  actions: Array<{
    action: number;
    kind: string;
    calls: CallJson[];
    outcome?: string;
    reason?: string;
    notification?: { to: string; message: Record<string, unknown> };
    request?: Record<string, unknown>;
    missing: string[];
  }>;
}
interface RunJson {
  id: string;
  rule: string;
  kind: string;
  event: string;
  status: string;
  outcome: string | null;
  dryRun: boolean;
  taskArn: string | null;
  taskDefinitionArn: string | null;
  containers: Array<{ name: string; exitCode?: number }> | null;
  stopCode: string | null;
  error: string | null;
  createdAt: string;
}

const indent = (text: string, by = '      ') =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n');

export function rulesCommand(): Command {
  const rules = new Command('rules')
    .description(
      'event rules: SNS notifications and AWS events that start Fargate tasks, notify, call services',
    )
    .option(
      '--server <url>',
      'chronops server URL (default $CHRONOPS_URL, else the config file, else http://127.0.0.1:$PORT)',
    )
    .option('-c, --config <path>', CONFIG_OPTION_HELP)
    .option('--token <token>', 'bearer token, when the server requires one (default $CHRONOPS_TOKEN)')
    .option('--json', 'print JSON');

  rules
    .command('list')
    .description('the rules of the config and the tasks they may run')
    .action(
      cliAction(async (client, options) => {
        const data = await client.call<{ rules: RuleJson[]; tasks: Array<Record<string, unknown>> }>(
          'GET',
          '/api/rules',
        );
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        if (data.rules.length === 0) return void console.log('no rules (rules: in the config)');
        for (const r of data.rules) {
          console.log(
            `${r.name}${r.dryRun ? '  [dry-run]' : ''}${r.description ? `  — ${r.description}` : ''}`,
          );
          if (r.match.sources) console.log(`  source   ${r.match.sources.join(', ')}`);
          if (r.match.topicArns) console.log(`  topic    ${r.match.topicArns.join(', ')}`);
          if (r.match.pattern) console.log(`  pattern  ${JSON.stringify(r.match.pattern)}`);
          for (const a of r.actions) console.log(`  → ${a}`);
        }
      }),
    );

  rules
    .command('test')
    .description('does NAME match the event, and what would it do: the exact AWS calls (nothing is changed)')
    .argument('<name>', 'rule name')
    .requiredOption(
      '--event <file>',
      'the event as JSON: an SNS message as SNS posts it, or an EventBridge event',
    )
    .option('--source <name>', 'the gateway source it came through (default: the rule’s first)')
    .addHelpText(
      'after',
      '\nExample:\n  chronops rules test price-list --event examples/events/price-list.json',
    )
    .action(
      cliAction(async (client, options, args) => {
        const name = args[0] as string;
        const o = options as typeof options & { event: string; source?: string };
        const event = readEvent(o.event);
        const report = await client.call<TestJson>('POST', `/api/rules/${encodeURIComponent(name)}/test`, {
          event,
          ...(o.source ? { source: o.source } : {}),
        });
        if (options.json) return void console.log(JSON.stringify(report, null, 2));
        console.log(
          `rule ${report.rule}: ${report.matches ? 'MATCHES' : `does not match — ${report.reason}`}`,
        );
        console.log(`  event  ${report.event.summary} (${report.event.kind} from ${report.event.source})`);
        if (!report.matches) console.log('  (what it would do if it matched:)');
        for (const a of report.actions) {
          console.log(
            `  action ${a.action + 1}: ${a.kind} → ${a.outcome ?? ''}${a.reason ? ` (${a.reason})` : ''}`,
          );
          for (const c of a.calls) {
            const how = c.dryRun ? 'NOT SENT (dry-run)' : c.ok ? 'sent (read)' : `failed: ${c.error}`;
            console.log(`    ${c.service} ${c.command}  ${how}`);
            console.log(indent(JSON.stringify(c.input, null, 2)));
          }
          if (a.notification) {
            console.log(`    to ${a.notification.to}:`);
            console.log(indent(JSON.stringify(a.notification.message, null, 2)));
          }
          if (a.request) console.log(indent(JSON.stringify(a.request, null, 2)));
          if (a.missing.length > 0) console.log(`    fields not in the event: ${a.missing.join(', ')}`);
        }
      }),
    );

  rules
    .command('run')
    .description('run NAME’s actions now (recorded as run by you)')
    .argument('<name>', 'rule name')
    .option(
      '--event <file>',
      'the event its actions see (templates filled from it; the rule must match it): an SNS message or an EventBridge event',
    )
    .option('--source <name>', 'the gateway source it came through (default: the rule’s first)')
    .addHelpText(
      'after',
      '\nExamples:\n  chronops rules run price-list\n  chronops rules run price-list --event examples/events/price-list.json',
    )
    .action(
      cliAction(async (client, options, args) => {
        const o = options as typeof options & { event?: string; source?: string };
        const result = await client.call<{ runs: Array<{ kind: string; status: string; runId: string }> }>(
          'POST',
          `/api/rules/${encodeURIComponent(args[0] as string)}/run`,
          o.event ? { event: readEvent(o.event), ...(o.source ? { source: o.source } : {}) } : undefined,
        );
        if (options.json) return void console.log(JSON.stringify(result, null, 2));
        for (const r of result.runs) console.log(`${r.kind.padEnd(8)} ${r.status.padEnd(10)} run ${r.runId}`);
      }),
    );

  rules
    .command('runs')
    .description('the latest runs (newest first)')
    .option('--rule <name>', 'of this rule only')
    .option('--limit <n>', 'how many', '20')
    .action(
      cliAction(async (client, options) => {
        const o = options as typeof options & { rule?: string; limit: string };
        const q = new URLSearchParams({ limit: o.limit, ...(o.rule ? { rule: o.rule } : {}) });
        const { runs } = await client.call<{ runs: RunJson[] }>('GET', `/api/rules/runs?${q}`);
        if (options.json) return void console.log(JSON.stringify(runs, null, 2));
        if (runs.length === 0) return void console.log('no runs yet');
        for (const r of runs) {
          const task = r.taskArn
            ? `${(r.taskDefinitionArn ?? '').split('/').pop()} ${r.taskArn.split('/').pop()?.slice(0, 8)}`
            : '';
          const exits = r.containers
            ? r.containers.map((c) => `${c.name}:${c.exitCode ?? '-'}`).join(' ')
            : '';
          const state = r.status === 'stopped' ? (r.outcome === 'ok' ? 'finished' : 'ALERT') : r.status;
          console.log(
            [
              r.createdAt.slice(0, 19).replace('T', ' '),
              r.rule,
              r.kind,
              state + (r.dryRun ? ' (dry-run)' : ''),
              task,
              exits,
              r.stopCode ?? '',
              r.error ?? '',
              `— ${r.event}`,
            ]
              .filter(Boolean)
              .join('  '),
          );
        }
      }),
    );
  return rules;
}

/** The event in a JSON file, or a clear error. */
function readEvent(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read the event from ${file}: ${(error as Error).message}`);
  }
}
