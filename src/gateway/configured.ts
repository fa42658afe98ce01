// The sources a config turns on, for every host of the gateway (`chronops serve` and the Lambda handler).

import type { Agent } from 'node:https';
import { SlackSignature } from '../chat/channels/slack/signature.ts';
import type { Logger } from '../kernel/logger.ts';
import type { GatewayConfig, SourceConfig } from './config.ts';
import { SOURCE_PREFIX, type Source } from './source.ts';
import { EventsSource } from './sources/events.ts';
import { GenericSource } from './sources/generic.ts';
import { JandiSource } from './sources/jandi.ts';
import { SlackSource } from './sources/slack.ts';
import { SnsSource } from './sources/sns.ts';
import { TeamsSource } from './sources/teams.ts';

/** The HTTP source of one `sources:` entry (none: an events source polled from SQS only). */
export function sourceOf(
  c: SourceConfig,
  options: { logger?: Logger; snsAgent?: Agent } = {},
): Source | undefined {
  switch (c.kind) {
    case 'jandi':
      return new JandiSource(c);
    case 'teams':
      return new TeamsSource(c);
    case 'generic':
      return new GenericSource(c);
    case 'events':
      return c.push ? new EventsSource({ name: c.name, maxBodyBytes: c.maxBodyBytes, ...c.push }) : undefined;
    case 'sns':
      return new SnsSource({
        name: c.name,
        topics: c.topics,
        maxAgeSeconds: c.maxAgeSeconds,
        maxBodyBytes: c.maxBodyBytes,
        ...(options.snsAgent ? { requestAgent: options.snsAgent } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
  }
}

/** The sources the config turns on, and the paths of those it leaves off (answered 404 with the reason). */
export function configuredSources(
  config: GatewayConfig,
  logger: Logger,
  options: { snsAgent?: Agent } = {},
): { sources: Source[]; off: Array<{ paths: string[]; reason: string }> } {
  const sources: Source[] = [];
  if (config.slack.enabled && config.slack.signingSecret) {
    sources.push(
      new SlackSource({
        verifier: new SlackSignature({ signingSecret: config.slack.signingSecret }),
        maxBodyBytes: config.slack.maxBodyBytes,
        logger,
      }),
    );
  }
  for (const c of config.sources.on) {
    const source = sourceOf(c, { logger, ...options });
    if (source) sources.push(source);
  }
  const off = config.sources.off.map((o) => ({
    paths: [`${SOURCE_PREFIX[o.kind]}/${o.name}`],
    reason: o.reason,
  }));
  return { sources, off };
}
