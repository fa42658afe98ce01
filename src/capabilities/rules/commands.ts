// Event rules' chat commands, registered on the one command router (src/chat/router.ts): `rules list`, and
// `rules run <rule>` — runs the rule's actions now, recorded as run by the person; its task's end is reported in
// the same thread. Permission key `rules.run` (slack/jandi/teams.permissions).

import { type Catalogue, translator } from '../../chat/messages.ts';
import { replyAddressOf } from '../../chat/port.ts';
import { escapeMrkdwn, textReply } from '../../chat/reply.ts';
import { CommandAnswer, type CommandRouter } from '../../chat/router.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import { describeAction } from './api.ts';
import type { RulesService } from './service.ts';

export const RULES_MESSAGES: Catalogue<'none' | 'rules' | 'started' | 'run' | 'duplicate' | 'noSuchRule'> = {
  en: {
    none: 'No event rules are configured (rules: in the config).',
    rules: '*Event rules*',
    started: 'Running *{rule}*: {runs}. I will say here how it ends.',
    run: '{kind} {status}',
    duplicate: '*{rule}* already ran for this message.',
    noSuchRule: '{message}',
  },
  ko: {
    none: '설정된 이벤트 규칙이 없습니다 (설정 파일의 rules:).',
    rules: '*이벤트 규칙*',
    started: '*{rule}* 실행: {runs}. 끝나면 이 스레드에 알려 드립니다.',
    run: '{kind} {status}',
    duplicate: '이 메시지로 *{rule}* 이(가) 이미 실행되었습니다.',
    noSuchRule: '{message}',
  },
};

export function registerRulesCommands(router: CommandRouter, service: RulesService): CommandRouter {
  router.command('rules list', {
    run: async (_args, ctx) => {
      const t = translator(RULES_MESSAGES, ctx.locale);
      if (service.config.rules.length === 0) return [textReply(t('none'))];
      const lines = service.config.rules.map(
        (r) =>
          `• *${escapeMrkdwn(r.name)}*${r.dryRun ? ' (dry-run)' : ''}: ${r.actions.map((a) => escapeMrkdwn(describeAction(a))).join('; ')}`,
      );
      return [textReply([t('rules'), ...lines].join('\n'))];
    },
    usage: {
      syntax: 'rules list',
      example: 'rules list',
      about: {
        en: 'List the event rules and what each does.',
        ko: '이벤트 규칙과 각 규칙이 하는 일을 보여 줍니다.',
      },
    },
  });

  router.command('rules run <rule>', {
    values: { rule: () => service.config.rules.map((r) => r.name) },
    run: async (_args, ctx) => {
      const t = translator(RULES_MESSAGES, ctx.locale);
      const rule = ctx.words.rule!;
      const event = ctx.event;
      const user = event.user.name ?? event.user.id;
      let result: Awaited<ReturnType<RulesService['runNow']>>;
      try {
        result = await service.runNow(rule, {
          // The event's key: a message handled twice (a redelivery, a worker that died) runs the rule once.
          key: `${event.platform}:${event.eventId}`,
          user,
          platform: event.platform,
          origin: {
            platform: event.platform,
            user,
            address: { ...replyAddressOf(event) },
          },
        });
      } catch (error) {
        if (error instanceof NotFoundError) {
          throw new CommandAnswer('not_found', textReply(t('noSuchRule', { message: error.message })));
        }
        throw error;
      }
      if (result.runs.every((r) => r.duplicate)) {
        return { replies: [textReply(t('duplicate', { rule: escapeMrkdwn(rule) }))], target: rule };
      }
      const runs = result.runs.map((r) => t('run', { kind: r.kind, status: r.status })).join(', ');
      return {
        replies: [textReply(t('started', { rule: escapeMrkdwn(rule), runs }))],
        target: rule,
      };
    },
    usage: {
      syntax: 'rules run <rule>',
      example: 'rules run price-list',
      about: {
        en: 'Run an event rule’s actions now; how its task ends is reported in this thread.',
        ko: '이벤트 규칙의 작업을 지금 실행합니다. 태스크가 끝나면 이 스레드에 알려 드립니다.',
      },
    },
    permission: 'rules.run',
  });
  return router;
}
