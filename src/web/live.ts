// What the page's live stream carries: a short summary of each event of the EventBus (which window, which
// resource, what happened), enough for the page to say what changed and to fetch the new state. Events are emitted
// only in the process that did the work, so with several servers on one PostgreSQL database each server also
// publishes its summaries with NOTIFY and relays the others' (LISTEN), and a page connected to any server sees
// everything. The relay feeds the page only: Slack reporting stays with the process that did the work.

import type { ChronopsEvents, EventBus, EventName } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import { PgNotifyChannel } from '../store/pg-notify.ts';

export interface LiveEvent {
  type: EventName;
  /** The server that did it. */
  node: string;
  at: string;
  windowId?: string;
  windowName?: string;
  resource?: string;
  transitionId?: string;
  /** One line for people, e.g. "web: start of k3f9x2ab done (min 2 → min 12)". */
  text: string;
  /** Set when it came from another server through the relay. */
  relayed?: boolean;
}

/**
 * A message chronops posts in a console thread (progress of a window made there, or its plan updated once
 * cancelled): what Slack would get in the thread, for the page that shows that thread.
 */
export interface ConsoleMessage {
  /** The thread of a post; null for an update (the page finds the plan message of `windowId`). */
  threadTs: string | null;
  /** Stable per thing reported: the page shows a message once even if it arrives twice. */
  key: string;
  /** `update`: replace the plan message of `windowId`. */
  op: 'post' | 'update';
  windowId: string | null;
  text: string;
  blocks: unknown[] | null;
}

/** What a stream carries: SSE event name and its data. */
export type FeedItem = { event: 'change'; data: LiveEvent } | { event: 'console'; data: ConsoleMessage };

type Listener = (item: FeedItem) => void;

const RELAYED: EventName[] = [
  'window.created',
  'window.cancelled',
  'transition.started',
  'transition.done',
  'transition.failed',
  'transition.missed',
  'reader.available',
  'reader.failed',
];

/** The summary of one event of the bus. */
export function summarize<K extends EventName>(name: K, payload: ChronopsEvents[K], node: string): LiveEvent {
  const base = { type: name, node, at: new Date().toISOString() };
  const p = payload as ChronopsEvents[EventName];
  if ('window' in p) {
    const w = p.window;
    const text =
      name === 'window.created'
        ? `window ${w.name} (${w.id}) created by ${w.createdBy}`
        : `window ${w.name} (${w.id}) cancelled by ${(p as ChronopsEvents['window.cancelled']).actor}`;
    return { ...base, windowId: w.id, windowName: w.name, text };
  }
  if ('transition' in p) {
    const t = p.transition;
    const what = `${t.resource}: ${t.kind} of ${t.windowId}`;
    let text = `${what} ${name.slice('transition.'.length)}`;
    if (name === 'transition.done') {
      const o = (p as ChronopsEvents['transition.done']).outcome;
      text = `${what} done (${o.changed ? `${o.from} → ${o.to}` : `unchanged, ${o.to}`})${t.dryRun ? ', dry-run' : ''}`;
    } else if (name === 'transition.failed') {
      const f = p as ChronopsEvents['transition.failed'];
      text = `${what} failed: ${f.error}${f.willRetry ? ' (will retry)' : ''}`;
    }
    return { ...base, windowId: t.windowId, resource: t.resource, transitionId: t.id, text };
  }
  const r = (p as ChronopsEvents['reader.available']).reader;
  const text =
    name === 'reader.available'
      ? `${r.resource}: replica ${r.instanceId} available after ${Math.round((p as ChronopsEvents['reader.available']).timeToReadyMs / 1000)} s`
      : `${r.resource}: replica ${r.instanceId} failed: ${(p as ChronopsEvents['reader.failed']).reason}`;
  return {
    ...base,
    windowId: r.windowId ?? undefined,
    resource: r.resource,
    transitionId: r.transitionId ?? undefined,
    text,
  };
}

/**
 * The page's side of the event bus: every local event, summarized, to every open stream; and, with a relay,
 * the events of the other servers too.
 */
export class LiveFeed {
  private readonly listeners = new Set<Listener>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly closers = new Set<() => void>();
  private relay?: PgNotifyChannel<FeedItem>;
  readonly node: string;

  constructor(options: { events: EventBus; node: string }) {
    this.node = options.node;
    for (const name of RELAYED) {
      this.unsubscribe.push(
        options.events.on(name, (payload) => {
          this.publish({ event: 'change', data: summarize(name, payload, this.node) });
        }),
      );
    }
  }

  /** Relays events between the servers that share this PostgreSQL database. */
  async connectRelay(options: { connectionString: string; schema: string; logger: Logger }): Promise<void> {
    this.relay = new PgNotifyChannel<FeedItem>({
      connectionString: options.connectionString,
      channel: `chronops_live_${options.schema}`,
      logger: options.logger,
      fit: fitted,
      onMessage: (item) =>
        this.deliver(
          item.event === 'change' ? { event: 'change', data: { ...item.data, relayed: true } } : item,
        ),
    });
    await this.relay.start();
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Calls `listener` for each event until the returned function is called; `onClose` when the feed closes. */
  subscribe(listener: Listener, onClose?: () => void): () => void {
    this.listeners.add(listener);
    if (onClose) this.closers.add(onClose);
    return () => {
      this.listeners.delete(listener);
      if (onClose) this.closers.delete(onClose);
    };
  }

  /** To every stream of this server and, through the relay, of the others. */
  publish(item: FeedItem): void {
    this.deliver(item);
    this.relay?.publish(item);
  }

  private deliver(item: FeedItem): void {
    for (const listener of this.listeners) {
      try {
        listener(item);
      } catch {
        // One broken stream must not stop the others.
      }
    }
  }

  private closing?: Promise<void>;

  /** Ends every open stream (so that the HTTP server can close) and the relay. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const off of this.unsubscribe) off();
      for (const close of [...this.closers]) close();
      this.listeners.clear();
      this.closers.clear();
      await this.relay?.stop();
    })();
    return this.closing;
  }
}

/**
 * NOTIFY payloads must stay under 8000 bytes: long texts are cut and a console message too large keeps its text
 * without its blocks (the page then shows the text, as a Slack client without blocks would).
 */
function fitted(item: FeedItem): FeedItem {
  if (item.event === 'change')
    return { event: 'change', data: { ...item.data, text: item.data.text.slice(0, 500) } };
  const m = item.data;
  if (Buffer.byteLength(JSON.stringify(m)) < 7000) return item;
  return { event: 'console', data: { ...m, text: m.text.slice(0, 2000), blocks: null } };
}
