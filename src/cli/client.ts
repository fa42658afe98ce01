// The CLI's way to a running chronops: its HTTP API, with the server URL and token from the options or the
// environment, errors turned into short messages. Every capability's commands (`chronops windows …`, `chronops
// notify …`) use it.
import { userInfo } from 'node:os';
import type { Command } from 'commander';

export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

export class ApiClient {
  readonly base: string;
  private readonly token?: string;
  constructor(options: GlobalOptions) {
    this.base = (
      options.server ??
      process.env.CHRONOPS_URL ??
      `http://127.0.0.1:${process.env.PORT ?? 3000}`
    ).replace(/\/$/, '');
    this.token = options.token ?? process.env.CHRONOPS_TOKEN;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          'x-chronops-actor': safeUser(),
          'x-chronops-source': 'cli',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach chronops at ${this.base} (${(error as Error).message}); is \`chronops serve\` running? (--server or CHRONOPS_URL)`,
      );
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) {
      const issues: Array<{ field: string; message: string }> = data?.error?.issues ?? [];
      const detail = issues.length
        ? issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')
        : `  ${data?.error?.message ?? text}`;
      throw new CliError(`${response.status} ${data?.error?.code ?? ''}\n${detail}`);
    }
    return data as T;
  }
}

export class CliError extends Error {}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** A command's action with its ApiClient; errors are printed and set the exit code. */
export function cliAction(
  action: (client: ApiClient, options: GlobalOptions, args: unknown[]) => Promise<void>,
) {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const options = command.optsWithGlobals() as GlobalOptions;
    try {
      await action(new ApiClient(options), options, args);
    } catch (error) {
      console.error(`chronops: ${error instanceof CliError ? error.message : (error as Error).stack}`);
      process.exitCode = 1;
    }
  };
}
