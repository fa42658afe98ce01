// SNS as tests need it: a real RSA key pair and an X.509 certificate for sns.us-east-1.amazonaws.com (made with
// Debian's openssl at the start of the test), messages signed the way SNS signs them (SignatureVersion 1: SHA1, 2:
// SHA256, over the documented "Key\nValue\n" string), and a local HTTPS server that serves the signing certificate.
// The verifier reaches it through an https.Agent that sends connections for the SNS host to loopback and trusts
// the test certificate: the production path (URL check, HTTPS fetch, cache) runs unchanged.

import { execFileSync } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

export const SNS_HOST = 'sns.us-east-1.amazonaws.com';
export const CERT_PATH = '/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem';
export const CERT_URL = `https://${SNS_HOST}${CERT_PATH}`;

export interface SnsFixture {
  privateKey: string;
  certificate: string;
  /** Makes connections to the SNS host reach the local server, trusting its certificate. */
  agent: Agent;
  /** GETs of the certificate so far. */
  fetches: () => number;
  /** The SubscribeURLs GET so far (subscription confirmations), as received. */
  confirmations: string[];
  /** Answer confirmations with this status (default 200; SNS answers 403/404 to a bad token). */
  confirmStatus: number;
  close(): Promise<void>;
}

/** A key pair, a certificate for the SNS host, and the HTTPS server that serves it. */
export async function snsFixture(): Promise<SnsFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'chronops-sns-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${SNS_HOST}`,
        '-addext',
        `subjectAltName=DNS:${SNS_HOST}`,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const privateKey = readFileSync(join(dir, 'key.pem'), 'utf8');
    const certificate = readFileSync(join(dir, 'cert.pem'), 'utf8');
    let fetches = 0;
    const confirmations: string[] = [];
    const state = { confirmStatus: 200 };
    const server: Server = createServer({ key: privateKey, cert: certificate }, (req, res) => {
      if (req.url === CERT_PATH && req.headers.host === SNS_HOST) {
        fetches++;
        res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(certificate);
      } else if (req.method === 'GET' && req.url?.startsWith('/?Action=ConfirmSubscription&')) {
        confirmations.push(`https://${req.headers.host}${req.url}`);
        res
          .writeHead(state.confirmStatus, { 'content-type': 'text/xml' })
          .end('<ConfirmSubscriptionResponse><ConfirmSubscriptionResult/></ConfirmSubscriptionResponse>');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    class LoopbackAgent extends Agent {
      override createConnection(options: { servername?: string; host?: string }, callback?: unknown) {
        return connect(
          { host: '127.0.0.1', port, servername: options.servername ?? options.host, ca: certificate },
          callback as () => void,
        );
      }
    }
    const agent = new LoopbackAgent({ keepAlive: false });
    return {
      privateKey,
      certificate,
      agent,
      fetches: () => fetches,
      confirmations,
      get confirmStatus() {
        return state.confirmStatus;
      },
      set confirmStatus(status: number) {
        state.confirmStatus = status;
      },
      close: async () => {
        agent.destroy();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const NOTIFICATION_KEYS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'];
const CONFIRMATION_KEYS = ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];

/** The string SNS signs: "Key\nValue\n" for each present key, in AWS's documented order. */
export function stringToSign(message: Record<string, unknown>): string {
  const keys = message.Type === 'Notification' ? NOTIFICATION_KEYS : CONFIRMATION_KEYS;
  return keys
    .filter((k) => message[k] !== undefined && message[k] !== null)
    .map((k) => `${k}\n${String(message[k])}\n`)
    .join('');
}

export function sign(message: Record<string, unknown>, privateKey: string, version: '1' | '2'): string {
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(stringToSign(message));
  return signer.sign(privateKey, 'base64');
}

/** A signed Notification as SNS POSTs it. */
export function signedNotification(
  fixture: Pick<SnsFixture, 'privateKey'>,
  options: {
    topicArn: string;
    message?: string;
    subject?: string;
    messageId?: string;
    timestamp?: Date;
    version?: '1' | '2';
  },
): Record<string, string> {
  const version = options.version ?? '2';
  const message: Record<string, string> = {
    Type: 'Notification',
    MessageId: options.messageId ?? randomUUID(),
    TopicArn: options.topicArn,
    ...(options.subject === undefined ? {} : { Subject: options.subject }),
    Message: options.message ?? '{"offerCode":"AmazonEC2"}',
    Timestamp: (options.timestamp ?? new Date()).toISOString(),
    SignatureVersion: version,
    SigningCertURL: CERT_URL,
    UnsubscribeURL: `https://${SNS_HOST}/?Action=Unsubscribe&SubscriptionArn=${options.topicArn}:1`,
  };
  message.Signature = sign(message, fixture.privateKey, version);
  return message;
}

/** A signed SubscriptionConfirmation (or, with `type`, UnsubscribeConfirmation). */
export function signedConfirmation(
  fixture: Pick<SnsFixture, 'privateKey'>,
  options: {
    topicArn: string;
    timestamp?: Date;
    version?: '1' | '2';
    subscribeUrl?: string;
    type?: 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  },
): Record<string, string> {
  const version = options.version ?? '1';
  const token = `token-${randomUUID()}`;
  const message: Record<string, string> = {
    Type: options.type ?? 'SubscriptionConfirmation',
    MessageId: randomUUID(),
    Token: token,
    TopicArn: options.topicArn,
    Message: `You have chosen to subscribe to the topic ${options.topicArn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
    SubscribeURL:
      options.subscribeUrl ??
      `https://${SNS_HOST}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(options.topicArn)}&Token=${token}`,
    Timestamp: (options.timestamp ?? new Date()).toISOString(),
    SignatureVersion: version,
    SigningCertURL: CERT_URL,
  };
  message.Signature = sign(message, fixture.privateKey, version);
  return message;
}
