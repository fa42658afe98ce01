// The line protocol between a benchmark and a server it runs as a child process: the child prints `READY <rest>`
// once it listens, answers a line on its stdin (`count`, `mem`) with one of `<ANSWER> <rest>`, and exits on `exit`.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildLines {
  /** The rest of the child's READY line. */
  ready: string;
  /** Writes `line` to the child; the rest of its next line that starts with `answer`. */
  ask(line: string, answer: string): Promise<string>;
  /** Tells the child to exit; resolves when it has. */
  stop(): Promise<void>;
}

/** Resolves once the child is ready. */
export async function childLines(child: ChildProcess): Promise<ChildLines> {
  const waiting: Array<{ prefix: string; resolve: (rest: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const i = waiting.findIndex((w) => line.startsWith(w.prefix));
    if (i < 0) return;
    const w = waiting.splice(i, 1)[0]!;
    w.resolve(line.slice(w.prefix.length));
  });
  const next = (prefix: string) =>
    new Promise<string>((resolve) => waiting.push({ prefix, resolve: (rest) => resolve(rest.trim()) }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ready: await next('READY '),
    ask: (line, answer) => {
      const p = next(`${answer} `);
      child.stdin!.write(`${line}\n`);
      return p;
    },
    stop: async () => {
      child.stdin!.write('exit\n');
      await exited;
    },
  };
}
