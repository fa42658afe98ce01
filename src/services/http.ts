// One HTTP request of the service caller, on node:http(s) with a keep-alive agent per origin. Cheaper per request
// than fetch (no WHATWG streams): a burst of a thousand job calls leaves in about a third of the time (bench:jobs).
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';

export interface WireAnswer {
  status: number;
  /** The body, cut to `maxChars`. */
  text: string;
}

export class WireTimeout extends Error {
  override readonly name = 'WireTimeout';
}
export class WireAborted extends Error {
  override readonly name = 'WireAborted';
}

/** Most of a body read (the rest is drained and dropped). */
const MAX_READ_BYTES = 1024 * 1024;

type CreateConnection = (
  this: http.Agent,
  options: net.NetConnectOpts,
  callback?: (error: Error | null, socket: net.Socket) => void,
) => net.Socket;
const baseCreateConnection = (http.Agent.prototype as unknown as { createConnection: CreateConnection })
  .createConnection;

/**
 * A keep-alive agent that can open its connections ahead (`warm`): a burst of calls due at one second then finds
 * them open instead of opening hundreds at that second (http: only; an https agent opens its own).
 */
class WarmAgent extends http.Agent {
  readonly #ready: net.Socket[] = [];

  /** Opens up to `n` connections to `url` beside the ones the agent has; resolves when they are open. */
  async warm(url: URL, n: number): Promise<void> {
    const open = (map: NodeJS.ReadOnlyDict<unknown[]>) =>
      Object.values(map).reduce((sum, list) => sum + (list?.length ?? 0), 0);
    const have = open(this.sockets) + open(this.freeSockets) + this.#ready.length;
    const count = Math.min(n, this.maxSockets) - have;
    const port = Number(url.port || 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    await Promise.all(
      Array.from(
        { length: Math.max(0, count) },
        () =>
          new Promise<void>((resolve) => {
            const socket = net.connect({ port, host });
            socket.setNoDelay(true);
            const drop = () => {
              const i = this.#ready.indexOf(socket);
              if (i >= 0) this.#ready.splice(i, 1);
              resolve();
            };
            socket.once('connect', () => {
              socket.off('error', drop);
              // An idle one the service closes is dropped; its errors are the request's once it is used.
              socket.once('close', drop);
              socket.on('error', () => {});
              this.#ready.push(socket);
              resolve();
            });
            socket.once('error', drop);
          }),
      ),
    );
  }

  override createConnection(
    options: net.NetConnectOpts,
    callback?: (error: Error | null, socket: net.Socket) => void,
  ): net.Socket {
    for (let socket = this.#ready.pop(); socket; socket = this.#ready.pop()) {
      if (!socket.destroyed && socket.readyState === 'open') {
        socket.removeAllListeners('close');
        return socket;
      }
    }
    return baseCreateConnection.call(this, options, callback);
  }

  override destroy(): void {
    for (const socket of this.#ready.splice(0)) socket.destroy();
    super.destroy();
  }
}

/**
 * One 'abort' listener per signal for all the requests it may stop: a burst of a thousand requests under one
 * signal would otherwise add and remove a thousand listeners, each a walk of the signal's list.
 */
const aborters = new WeakMap<AbortSignal, Set<() => void>>();
function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let set = aborters.get(signal);
  if (!set) {
    const fns = new Set<() => void>();
    set = fns;
    aborters.set(signal, fns);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of [...fns]) f();
        fns.clear();
      },
      { once: true },
    );
  }
  set.add(fn);
  const fns = set;
  return () => fns.delete(fn);
}

export class HttpSender {
  readonly #agents = new Map<string, http.Agent>();

  #agent(url: URL, maxSockets: number): http.Agent {
    let agent = this.#agents.get(url.origin);
    if (!agent) {
      const options = { keepAlive: true, maxSockets, keepAliveMsecs: 1000 };
      agent = url.protocol === 'https:' ? new https.Agent(options) : new WarmAgent(options);
      this.#agents.set(url.origin, agent);
    }
    return agent;
  }

  /** Opens up to `n` connections to `url`'s origin ahead of a burst (at most `maxSockets` in all). */
  async warm(url: URL, n: number, maxSockets: number): Promise<void> {
    const agent = this.#agent(url, maxSockets);
    if (agent instanceof WarmAgent) await agent.warm(url, n);
  }

  /**
   * Sends the request; resolves with the answer, rejects with WireTimeout (no answer within `timeoutMs`),
   * WireAborted (`signal`), or the socket's error (its `code`: ECONNREFUSED, ECONNRESET…). `onSent` is called
   * once the request is handed to the socket layer.
   */
  send(
    url: URL,
    o: {
      method: string;
      headers: Record<string, string>;
      body: string;
      timeoutMs: number;
      maxSockets: number;
      signal?: AbortSignal;
      onSent?: () => void;
    },
  ): Promise<WireAnswer> {
    return new Promise<WireAnswer>((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const headers: Record<string, string | number> = { ...o.headers };
      if (o.body) headers['Content-Length'] = Buffer.byteLength(o.body);
      let settled = false;
      let forget: (() => void) | undefined;
      const done = (error: Error | undefined, answer?: WireAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        forget?.();
        if (error) reject(error);
        else resolve(answer!);
      };
      const req = lib.request(
        url,
        { method: o.method, headers, agent: this.#agent(url, o.maxSockets) },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_READ_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () =>
            done(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (error) => done(error));
        },
      );
      const timer = setTimeout(() => {
        done(new WireTimeout(`no answer within ${o.timeoutMs} ms`));
        req.destroy();
      }, o.timeoutMs);
      const onAbort = () => {
        done(new WireAborted('aborted'));
        req.destroy();
      };
      if (o.signal?.aborted) return onAbort();
      if (o.signal) forget = whenAborted(o.signal, onAbort);
      req.on('error', (error) => done(error));
      req.end(o.body || undefined);
      o.onSent?.();
    });
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
