// The node:http front of the Slack URLs: what it takes, what it leaves to the Hono app, and a failed store.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SlackIngest } from '../../../../src/chat/channels/slack/ingest.ts';
import { slackNodeHandler } from '../../../../src/chat/channels/slack/node-handler.ts';
import { SlackSignature } from '../../../../src/chat/channels/slack/signature.ts';
import { createLogger } from '../../../../src/kernel/logger.ts';
import { mentionBody, SIGNING_SECRET, signedHeaders } from '../../../support/slack.ts';

describe('slackNodeHandler', () => {
  let server: Server;
  let url: string;
  let failStore = false;
  const passedOn: string[] = [];

  before(async () => {
    const logger = createLogger({ level: 'silent' });
    const ingest = new SlackIngest({
      verifier: new SlackSignature({ signingSecret: SIGNING_SECRET }),
      store: async () => {
        if (failStore) throw new Error('database is down');
      },
      logger,
    });
    const front = slackNodeHandler(ingest, { maxBodyBytes: 4096, logger });
    server = createServer((req, res) => {
      if (front(req, res)) return;
      passedOn.push(`${req.method} ${req.url}`);
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('takes POSTs to the three Slack URLs (query string allowed) and leaves everything else', async () => {
    // Prepare
    const body = mentionBody({ text: 'help' });
    const headers = signedHeaders(body, 'application/json');
    // Act
    const taken = await fetch(`${url}/slack/events?x=1`, { method: 'POST', headers, body });
    const get = await fetch(`${url}/slack/events`);
    const other = await fetch(`${url}/slack/other`, { method: 'POST', headers, body });
    // Assess
    assert.equal(taken.status, 200);
    assert.deepEqual([get.status, other.status], [204, 204]);
    assert.deepEqual(passedOn, ['GET /slack/events', 'POST /slack/other']);
  });

  it('answers 500 when the delivery could not be stored, so that Slack sends it again', async () => {
    // Prepare
    failStore = true;
    const body = mentionBody({ text: 'help' });
    // Act
    const answer = await fetch(`${url}/slack/events`, {
      method: 'POST',
      headers: signedHeaders(body, 'application/json'),
      body,
    });
    failStore = false;
    // Assess
    assert.equal(answer.status, 500);
  });
});
