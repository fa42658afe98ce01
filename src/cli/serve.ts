import { Command, Option } from 'commander';
import { loadConfig, resolveConfigPath } from '../kernel/config.ts';
import { ChronopsError } from '../kernel/errors.ts';
import { createLogger } from '../kernel/logger.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run chronops: HTTP API, scheduler and workers in one process')
    .option('-c, --config <path>', 'config file (YAML or JSON); default $CHRONOPS_CONFIG')
    .addOption(
      new Option(
        '--role <role>',
        'all: everything in this process; front: webhooks, API and page only, the work left to the `all` servers of the same PostgreSQL database (docs/gateway.md)',
      )
        .choices(['all', 'front'])
        .default('all'),
    )
    .action(async (options: { config?: string; role: 'all' | 'front' }) => {
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(resolveConfigPath(options.config, process.env), process.env);
      } catch (error) {
        console.error(`chronops: ${(error as Error).message}`);
        process.exit(2);
      }
      const logger = createLogger({ secrets: config.secrets });
      const where = config.database.url
        ? 'PostgreSQL (DATABASE_URL)'
        : `embedded database in ${config.database.dataDir}`;
      logger.info(
        `starting chronops: ${where}${config.dryRun ? ', dry-run (AWS calls are recorded, not sent)' : ''}${options.role === 'front' ? ', role front (webhooks, API and page; the work runs on the other servers)' : ''}`,
      );
      try {
        // Loaded here, not at the top: every other command (a small HTTP client) starts without the server's
        // modules (AWS SDK, the databases, pg-boss): a few times faster.
        const { startChronops } = await import('../hosts/server.ts');
        const chronops = await startChronops(config, { logger, role: options.role });
        logger.info(
          { url: chronops.url, resources: Object.keys(config.resources), timezone: config.timezone },
          `chronops listening on ${chronops.url}`,
        );
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info(`${signal}: stopping`);
          // Bounded: runs under way get 5 s, then are handed back to the other servers; the rest closes fast.
          setTimeout(() => {
            logger.error('stop took longer than 20 s; exiting');
            process.exit(1);
          }, 20_000).unref();
          chronops
            .close()
            .then(() => process.exit(0))
            .catch((error) => {
              logger.error({ err: error }, 'stop failed');
              process.exit(1);
            });
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      } catch (error) {
        if (error instanceof ChronopsError) {
          logger.error(`cannot start: ${error.message}`);
        } else {
          logger.error({ err: error }, 'cannot start');
        }
        process.exit(1);
      }
    });
}
