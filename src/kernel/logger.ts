import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Known secret fields are redacted by path; any configured secret value is also
 * scrubbed from every line, wherever it appears (a token pasted into a message, an error text).
 */
export function createLogger(
  options: { level?: string; secrets?: string[]; destination?: pino.DestinationStream } = {},
): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 6);
  const scrub = (line: string) => secrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), line);
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      redact: {
        paths: [
          '*.password',
          '*.secret',
          '*.token',
          '*.authorization',
          '*.headers.authorization',
          '*.headers["x-slack-signature"]',
          '*.signingSecret',
          '*.botToken',
          '*.connectionString',
          '*.databaseUrl',
        ],
        censor: '[redacted]',
      },
      ...(secrets.length > 0 ? { hooks: { streamWrite: scrub } } : {}),
    },
    options.destination,
  );
}
