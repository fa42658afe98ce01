// The Slack app manifest users create the app from: the scopes the issue names, interactivity, and the three
// request URLs chronops serves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { SLACK_PATHS } from '../../../../src/gateway/sources/slack.ts';

const manifest = parse(readFileSync(new URL('../../../../slack/manifest.yaml', import.meta.url), 'utf8'));

describe('slack/manifest.yaml', () => {
  it('asks for the scopes chronops uses', () => {
    const scopes: string[] = manifest.oauth_config.scopes.bot;
    for (const scope of [
      'app_mentions:read',
      'chat:write',
      'channels:history',
      'groups:history',
      'commands',
    ]) {
      assert.ok(scopes.includes(scope), scope);
    }
  });

  it('points events, the slash command and interactivity at the routes chronops serves', () => {
    const urls = [
      manifest.settings.event_subscriptions.request_url,
      manifest.features.slash_commands[0].url,
      manifest.settings.interactivity.request_url,
    ].map((u: string) => new URL(u).pathname);
    assert.deepEqual(urls.sort(), [...SLACK_PATHS].sort());
    assert.equal(manifest.settings.interactivity.is_enabled, true);
    assert.deepEqual(manifest.settings.event_subscriptions.bot_events, ['app_mention']);
  });
});
