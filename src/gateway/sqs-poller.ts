// EventBridge events from an SQS queue (the queue is the target of an EventBridge rule): chronops long-polls it
// through the one AWS gateway, stores each event in the inbox like any other delivery, and deletes a message only
// after it is stored — so a crash between the two means a redelivery, which the inbox's delivery key (the
// EventBridge event id) makes harmless. A message that cannot be stored is left on the queue; once SQS has
// delivered it `maxReceives` times it is kept as a dead letter and deleted, so one bad message never blocks the
// queue nor stops the poller. A message that is not an EventBridge event at all is a dead letter at once.
//
// The client is created by the gateway, so AWS_ENDPOINT_URL (LocalStack, moto, ElasticMQ), AWS_REGION and the
// usual credential chain apply.

import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { AwsGateway } from '../aws/gateway.ts';
import type { Logger } from '../kernel/logger.ts';
import { eventPartitionKey } from './sources/events.ts';

/** What the poller stores: one delivery of an `events` source. */
export interface PolledDelivery {
  /** `<source>:<EventBridge event id>`: the same event redelivered has the same key. */
  key: string;
  source: string;
  type: string;
  subtype: string | null;
  body: string;
  /** What keeps one thing's events in order when relayed: its first resource (a task ARN), else the source. */
  partitionKey: string | null;
}

export interface SqsPollerSink {
  /** Stores the deliveries durably (a key already stored is not an error); resolves once committed. */
  store(deliveries: PolledDelivery[]): Promise<void>;
  /** Keeps a message that cannot be stored, with why. */
  deadLetter(letter: {
    source: string;
    messageId: string;
    receiveCount: number;
    reason: string;
    body: string;
  }): Promise<void>;
}

export interface SqsPollerOptions {
  gateway: AwsGateway;
  sink: SqsPollerSink;
  logger: Logger;
  /** The gateway source the events belong to. */
  source: string;
  queueUrl: string;
  region: string;
  /** Long-poll wait, 0–20 s. Default 20. */
  waitSeconds?: number;
  /** Messages per receive, 1–10. Default 10. */
  batchSize?: number;
  /** Receives after which a message that still cannot be stored becomes a dead letter. Default 5. */
  maxReceives?: number;
  /** Pause after a failed receive, doubling up to 30 s. Default 1000 ms. */
  errorDelayMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface PollOutcome {
  received: number;
  stored: number;
  deadLettered: number;
  /** Left on the queue to be received again. */
  leftForLater: number;
  deleted: number;
}

export class SqsPoller {
  readonly #o: Required<Omit<SqsPollerOptions, 'sleep'>> & Pick<SqsPollerOptions, 'sleep'>;
  readonly #client: SQSClient;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: SqsPollerOptions) {
    this.#o = {
      waitSeconds: 20,
      batchSize: 10,
      maxReceives: 5,
      errorDelayMs: 1000,
      ...options,
    };
    // The SQS client sends each request to its QueueUrl's host rather than to the endpoint it resolved, unless told
    // otherwise: with AWS_ENDPOINT_URL(_SQS) set (an emulator), the endpoint must win, the QueueUrl only names the queue.
    const endpoint = process.env.AWS_ENDPOINT_URL_SQS?.trim() || process.env.AWS_ENDPOINT_URL?.trim();
    this.#client = endpoint
      ? options.gateway.client(SQSClient, options.region, { useQueueUrlAsEndpoint: false })
      : options.gateway.client(SQSClient, options.region);
  }

  start(): void {
    if (this.#loop !== undefined) return;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
  }

  /** Ends the current long poll at once and waits for the batch in hand to be stored and deleted. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let delay = this.#o.errorDelayMs;
    while (!signal.aborted) {
      try {
        await this.pollOnce(signal);
        delay = this.#o.errorDelayMs;
      } catch (error) {
        if (signal.aborted) break;
        this.#o.logger.warn({ err: error, source: this.#o.source }, 'SQS receive failed; trying again');
        await (this.#o.sleep ?? abortableSleep)(delay, signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /** One receive → store → delete round. Throws only when the receive itself fails. */
  async pollOnce(signal?: AbortSignal): Promise<PollOutcome> {
    const received = await this.#o.gateway.send(
      this.#client,
      new ReceiveMessageCommand({
        QueueUrl: this.#o.queueUrl,
        MaxNumberOfMessages: this.#o.batchSize,
        WaitTimeSeconds: this.#o.waitSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      { mutating: false, dryRun: false, ...(signal ? { abortSignal: signal } : {}) },
    );
    const messages = received.Messages ?? [];
    const outcome: PollOutcome = {
      received: messages.length,
      stored: 0,
      deadLettered: 0,
      leftForLater: 0,
      deleted: 0,
    };
    if (messages.length === 0) return outcome;

    const done: Message[] = [];
    const events: Array<{ message: Message; delivery: PolledDelivery }> = [];
    for (const message of messages) {
      const delivery = this.#toDelivery(message);
      if (typeof delivery === 'string') {
        if (await this.#deadLetter(message, delivery)) {
          done.push(message);
          outcome.deadLettered++;
        } else outcome.leftForLater++;
      } else events.push({ message, delivery });
    }

    try {
      await this.#o.sink.store(events.map((e) => e.delivery));
      done.push(...events.map((e) => e.message));
      outcome.stored += events.length;
    } catch (error) {
      // One of them may be what fails: store them one by one, so the others get through.
      this.#o.logger.warn(
        { err: error, source: this.#o.source },
        'storing a batch of SQS events failed; one by one',
      );
      for (const { message, delivery } of events) {
        try {
          await this.#o.sink.store([delivery]);
          done.push(message);
          outcome.stored++;
        } catch (single) {
          const receives = receiveCount(message);
          if (
            receives >= this.#o.maxReceives &&
            (await this.#deadLetter(message, `not stored after ${receives} receives: ${describe(single)}`))
          ) {
            done.push(message);
            outcome.deadLettered++;
          } else {
            outcome.leftForLater++;
          }
        }
      }
    }
    outcome.deleted = await this.#delete(done);
    return outcome;
  }

  /** The message as a delivery, or why it cannot be one. */
  #toDelivery(message: Message): PolledDelivery | string {
    let event: unknown;
    try {
      event = JSON.parse(message.Body ?? '');
    } catch {
      return 'the body is not JSON (is the EventBridge target using an input transformer?)';
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      return 'the body is not a JSON object';
    const e = event as Record<string, unknown>;
    if (typeof e.id !== 'string' || typeof e['detail-type'] !== 'string' || typeof e.source !== 'string') {
      return 'not an EventBridge event (id, source and detail-type expected)';
    }
    return {
      key: `${this.#o.source}:${e.id}`,
      source: this.#o.source,
      type: e['detail-type'],
      subtype: e.source,
      body: message.Body!,
      partitionKey: eventPartitionKey(e),
    };
  }

  async #deadLetter(message: Message, reason: string): Promise<boolean> {
    try {
      await this.#o.sink.deadLetter({
        source: this.#o.source,
        messageId: message.MessageId ?? '(none)',
        receiveCount: receiveCount(message),
        reason,
        body: message.Body ?? '',
      });
      this.#o.logger.warn(
        { source: this.#o.source, messageId: message.MessageId, reason },
        'SQS message kept as a dead letter',
      );
      return true;
    } catch (error) {
      this.#o.logger.error(
        { err: error, source: this.#o.source, messageId: message.MessageId },
        'could not keep a dead letter; the message stays on the queue',
      );
      return false;
    }
  }

  /**
   * Deletes what is stored. Sent even in dry-run (as a read): it acknowledges a message chronops has taken, it
   * changes nothing of the team's infrastructure. A failed delete means a redelivery, which the key dedupes.
   */
  async #delete(messages: Message[]): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      try {
        const answer = await this.#o.gateway.send(
          this.#client,
          new DeleteMessageBatchCommand({
            QueueUrl: this.#o.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(i + j), ReceiptHandle: m.ReceiptHandle })),
          }),
          { mutating: false, dryRun: false },
        );
        deleted += answer.Successful?.length ?? 0;
        for (const failed of answer.Failed ?? []) {
          this.#o.logger.warn(
            { source: this.#o.source, failed },
            'SQS delete failed; the stored event will come again',
          );
        }
      } catch (error) {
        this.#o.logger.warn(
          { err: error, source: this.#o.source },
          'SQS delete failed; the stored events will come again',
        );
      }
    }
    return deleted;
  }
}

function receiveCount(message: Message): number {
  const n = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
  return Number.isFinite(n) ? n : 1;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
