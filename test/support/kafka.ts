// librdkafka's mock cluster, from Debian's kcat (`apt-get install -y kcat`), as a Kafka-protocol peer on loopback
// for tests: `MockKafka.start()` runs a kcat producer with `test.mock.num.brokers` (its mock brokers live as long
// as that process does) and reads their addresses from its debug output; `read(topic)` reads a topic back with
// kcat's own consumer (JSON envelopes: partition, offset, key, headers, payload). `pause()`/`resume()` stop and
// continue the process (SIGSTOP/SIGCONT): the brokers stop answering, like a cluster that is unreachable, and come
// back with everything they held. What the mock cannot do (consumer groups, ListOffsets, the idempotent producer,
// transactions) is not tested here.

import { type ChildProcess, execFile, spawn } from 'node:child_process';

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  headers: Record<string, string>;
  value: string;
}

export class MockKafka {
  readonly brokers: string[];
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  private constructor(child: ChildProcess, brokers: string[], exited: Promise<void>) {
    this.child = child;
    this.brokers = brokers;
    this.exited = exited;
  }

  static start(options: { brokers?: number; timeoutMs?: number } = {}): Promise<MockKafka> {
    const child = spawn(
      'kcat',
      [
        '-P',
        '-t',
        'chronops-mock-warmup',
        '-b',
        'unused:9092',
        '-X',
        `test.mock.num.brokers=${options.brokers ?? 3}`,
        '-d',
        'mock',
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let log = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`kcat's mock cluster did not start:\n${log.slice(0, 2000)}`));
      }, options.timeoutMs ?? 10_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const m = /bootstrap\.servers=(\S+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          // Keep reading (and dropping) its debug output so that the pipe never fills up.
          child.stderr!.off('data', onData);
          child.stderr!.resume();
          resolve(new MockKafka(child, m[1]!.split(','), exited));
        }
      };
      child.stderr!.on('data', onData);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`kcat could not run (apt-get install -y kcat): ${error.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kcat exited (${code}) before its mock cluster started:\n${log.slice(0, 2000)}`));
      });
    });
  }

  /** Every message of `topic` now, read with kcat's consumer from the beginning to the end. */
  read(topic: string, timeoutMs = 15_000): Promise<ReadMessage[]> {
    return new Promise((resolve, reject) => {
      execFile(
        'kcat',
        ['-C', '-b', this.brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-J', '-q'],
        { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) {
            reject(new Error(`kcat -C ${topic} failed: ${error.message} ${stderr}`));
            return;
          }
          const out: ReadMessage[] = [];
          for (const line of stdout.split('\n')) {
            if (!line.startsWith('{')) continue;
            const m = JSON.parse(line) as {
              topic: string;
              partition: number;
              offset: number;
              key: string | null;
              payload: string | null;
              headers?: string[];
            };
            const headers: Record<string, string> = {};
            for (let i = 0; i + 1 < (m.headers?.length ?? 0); i += 2)
              headers[m.headers![i]!] = m.headers![i + 1]!;
            out.push({
              topic: m.topic,
              partition: m.partition,
              offset: m.offset,
              key: m.key,
              headers,
              value: m.payload ?? '',
            });
          }
          resolve(out);
        },
      );
    });
  }

  /** The brokers stop answering (the process is stopped). */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.stdin?.end();
    this.child.kill('SIGTERM');
    await this.exited;
  }
}
