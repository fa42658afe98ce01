// Shared set-up of the rules tests: the config of the seed's scenario, events as AWS sends them, a notifier that
// records what it is asked to send.

import type { ChatOrigin, RuleNotification, RuleNotifier } from '../../../src/capabilities/rules/ports.ts';
import { parseConfig } from '../../../src/kernel/config.ts';

export const TOPIC = 'arn:aws:sns:us-east-1:278350005181:price-list-api';
export const REGION = 'us-east-1';
export const ACCOUNT = '111122223333';
export const DEF_ARN = (rev: number) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/pricechecker:${rev}`;
export const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/pricing/0123456789abcdef0123456789abcdef`;

export function rulesConfig(patch: { rule?: Record<string, unknown>; dryRun?: boolean } = {}) {
  return parseConfig(
    {
      dryRun: patch.dryRun ?? false,
      notify: { destinations: { ops: { kind: 'console' } } },
      resources: {
        tasks: [{ name: 'pricing', cluster: 'pricing', region: REGION, taskDefinitions: ['pricechecker'] }],
      },
      rules: [
        {
          name: 'price-list',
          match: { source: 'price-list', topicArn: TOPIC },
          actions: [
            {
              runTask: {
                task: 'pricing',
                taskDefinition: 'pricechecker',
                subnets: ['subnet-0123456789abcdef0'],
                securityGroups: ['sg-0123456789abcdef0'],
                assignPublicIp: true,
                containerOverrides: [{ name: 'checker', environment: { OFFER: '{{ Message.offerCode }}' } }],
                report: 'ops',
              },
            },
            { notify: { to: 'ops', title: 'Price list', text: 'Prices of {{ Message.offerCode }} changed' } },
          ],
          ...patch.rule,
        },
        {
          name: 'task-failures',
          match: {
            pattern: {
              source: ['aws.ecs'],
              'detail-type': ['ECS Task State Change'],
              detail: { lastStatus: ['STOPPED'], containers: { exitCode: [{ 'anything-but': 0 }] } },
            },
          },
          actions: [
            {
              notify: {
                to: 'ops',
                severity: 'error',
                text: 'Task {{ detail.taskArn }} exited {{ detail.containers.0.exitCode }}',
              },
            },
          ],
        },
      ],
    },
    {},
  );
}

/** The SNS envelope of a Price List API notification (the Message is JSON, as AWS sends it). */
export function snsBody(messageId = '6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1', offerCode = 'AmazonEC2'): string {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: messageId,
    TopicArn: TOPIC,
    Subject: 'Price List Update',
    Message: JSON.stringify({
      formatVersion: 'v1.0',
      offerCode,
      currencyCode: 'USD',
      timeStamp: '2026-12-01T00:00:00Z',
      url: {
        JSON: `https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/${offerCode}/20261201000000/index.json`,
        CSV: `https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/${offerCode}/20261201000000/index.csv`,
      },
    }),
    Timestamp: '2026-12-01T00:00:05.000Z',
    SignatureVersion: '2',
    Signature: 'c2lnbmF0dXJl',
    SigningCertURL: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem',
    UnsubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe',
  });
}

export function stoppedEvent(
  taskArn = TASK_ARN,
  options: { exitCodes?: number[]; stopCode?: string; startedBy?: string; reason?: string } = {},
): Record<string, unknown> {
  const codes = options.exitCodes ?? [0];
  const failedToStart = options.stopCode === 'TaskFailedToStart';
  return {
    version: '0',
    id: `stop-${taskArn.slice(-6)}-${codes.join('')}`,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: ACCOUNT,
    time: '2026-12-01T00:04:10Z',
    region: REGION,
    resources: [taskArn],
    detail: {
      clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/pricing`,
      taskArn,
      taskDefinitionArn: DEF_ARN(12),
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      launchType: 'FARGATE',
      startedBy: options.startedBy ?? 'chronops',
      group: 'family:pricechecker',
      createdAt: '2026-12-01T00:00:06.000Z',
      ...(failedToStart ? {} : { startedAt: '2026-12-01T00:00:41.000Z' }),
      stoppingAt: '2026-12-01T00:04:05.000Z',
      stoppedAt: '2026-12-01T00:04:08.500Z',
      stopCode: options.stopCode ?? 'EssentialContainerExited',
      stoppedReason: options.reason ?? 'Essential container in task exited',
      containers: failedToStart
        ? [
            {
              name: 'checker',
              lastStatus: 'STOPPED',
              reason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
            },
          ]
        : codes.map((exitCode, i) => ({
            name: i === 0 ? 'checker' : `sidecar-${i}`,
            exitCode,
            lastStatus: 'STOPPED',
          })),
    },
  };
}

export interface Sent {
  to: string;
  message: RuleNotification;
  key: string;
}

/** Records every request to send (no dedupe here: tests check that the caller asks once). */
export class RecordingNotifier implements RuleNotifier {
  readonly sent: Sent[] = [];
  readonly replies: Array<{ origin: ChatOrigin; message: RuleNotification; key: string }> = [];
  readonly destinations: Set<string>;
  constructor(destinations: string[] = ['ops']) {
    this.destinations = new Set(destinations);
  }
  has(destination: string): boolean {
    return this.destinations.has(destination);
  }
  async notify(to: string, message: RuleNotification, key: string): Promise<void> {
    this.sent.push({ to, message, key });
  }
  async reply(origin: ChatOrigin, message: RuleNotification, key: string): Promise<void> {
    this.replies.push({ origin, message, key });
  }
}
