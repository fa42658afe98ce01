// HTTP jobs' chat commands on the one command router (src/chat/router.ts): `jobs list`, `jobs run <job>` (permission
// key `jobs.run` in slack/jandi/teams.permissions; once per chat event, so a redelivered message runs it once).
import { type Catalogue, translator } from '../../chat/messages.ts';
import { escapeMrkdwn, textReply } from '../../chat/reply.ts';
import { CommandAnswer, type CommandRouter } from '../../chat/router.ts';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import type { JobsService } from './service.ts';

export const JOBS_MESSAGES: Catalogue<'none' | 'jobs' | 'line' | 'started' | 'refused'> = {
  en: {
    none: 'No HTTP jobs are configured (jobs: in the config).',
    jobs: '*HTTP jobs*',
    line: '• *{name}* {schedule} → {call}: next {next}, last {last}',
    started: 'Running *{job}* now (run {run}); its result goes where the job reports.',
    refused: '{message}',
  },
  ko: {
    none: '설정된 HTTP 작업이 없습니다 (설정 파일의 jobs:).',
    jobs: '*HTTP 작업*',
    line: '• *{name}* {schedule} → {call}: 다음 {next}, 마지막 {last}',
    started: '*{job}* 을(를) 지금 실행합니다 (실행 {run}). 결과는 작업의 알림 대상으로 갑니다.',
    refused: '{message}',
  },
};

export function registerJobsCommands(router: CommandRouter, service: JobsService): CommandRouter {
  router.command('jobs list', {
    run: async (_args, ctx) => {
      const t = translator(JOBS_MESSAGES, ctx.locale);
      const jobs = await service.list();
      if (jobs.length === 0) return [textReply(t('none'))];
      const lines = jobs.map((j) =>
        t('line', {
          name: escapeMrkdwn(j.name),
          schedule: escapeMrkdwn(j.spec.schedule ?? `at ${j.spec.at}`),
          call: escapeMrkdwn(`${j.spec.service} ${j.spec.method} ${j.spec.path}`),
          next: j.paused ? 'paused' : (j.nextDueAt?.toISOString() ?? '-'),
          last: j.lastRun ? j.lastRun.status : '-',
        }),
      );
      return [textReply([t('jobs'), ...lines].join('\n'))];
    },
    usage: {
      syntax: 'jobs list',
      example: 'jobs list',
      about: {
        en: 'List the HTTP jobs, their next run and last result.',
        ko: 'HTTP 작업과 다음 실행, 마지막 결과를 보여 줍니다.',
      },
    },
  });

  router.command('jobs run <job>', {
    values: { job: () => service.names() },
    run: async (_args, ctx) => {
      const t = translator(JOBS_MESSAGES, ctx.locale);
      const job = ctx.words.job!;
      const event = ctx.event;
      try {
        const run = await service.runNow(job, {
          actor: `${event.user.name ?? event.user.id} (${event.platform})`,
          key: `${event.platform}:${event.eventId}`,
        });
        return { replies: [textReply(t('started', { job: escapeMrkdwn(job), run: run.id }))], target: job };
      } catch (error) {
        if (error instanceof NotFoundError) {
          throw new CommandAnswer('not_found', textReply(t('refused', { message: error.message })));
        }
        if (error instanceof ConflictError) {
          throw new CommandAnswer('conflict', textReply(t('refused', { message: error.message })));
        }
        throw error;
      }
    },
    usage: {
      syntax: 'jobs run <job>',
      example: 'jobs run leave-status',
      about: { en: 'Run an HTTP job now.', ko: 'HTTP 작업을 지금 실행합니다.' },
    },
    permission: 'jobs.run',
  });
  return router;
}
