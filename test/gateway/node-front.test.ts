// The node:http front of the webhook URLs: what it takes, what it leaves to the Hono app, and a failed store.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SlackSignature } from '../../src/chat/channels/slack/signature.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { gatewayNodeHandler } from '../../src/gateway/node-front.ts';
import { SlackSource } from '../../src/gateway/sources/slack.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { mentionBody, SIGNING_SECRET, signedHeaders } from '../support/slack.ts';

describe('gatewayNodeHandler', () => {
  let server: Server;
  let url: string;
  let failStore = false;
  const passedOn: string[] = [];

  before(async () => {
    const logger = createLogger({ level: 'silent' });
    const gateway = new Gateway({
      sources: [
        new SlackSource({
          verifier: new SlackSignature({ signingSecret: SIGNING_SECRET }),
          maxBodyBytes: 4096,
        }),
      ],
      store: async () => {
        if (failStore) throw new Error('database is down');
      },
      logger,
    });
    const front = gatewayNodeHandler(gateway, { logger });
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

  it('takes POSTs under the source prefixes (query string allowed) and leaves everything else', async () => {
    // Prepare
    const body = mentionBody({ text: 'help' });
    const headers = signedHeaders(body, 'application/json');
    // Act
    const taken = await fetch(`${url}/slack/events?x=1`, { method: 'POST', headers, body });
    const get = await fetch(`${url}/slack/events`);
    const unknown = await fetch(`${url}/slack/other`, { method: 'POST', headers, body });
    const other = await fetch(`${url}/other`, { method: 'POST', headers, body });
    // Assess
    assert.equal(taken.status, 200);
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /no webhook source at \/slack\/other/);
    assert.deepEqual([get.status, other.status], [204, 204]);
    assert.deepEqual(passedOn, ['GET /slack/events', 'POST /other']);
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
