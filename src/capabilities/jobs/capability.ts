// HTTP jobs as the host runs them: their tables, their two timer kinds on the one loop, the service that fires
// them through the one service caller and reports through the one outbox, the API, the chat commands, metrics.
import { Hono } from 'hono';
import { Counter, Histogram } from 'prom-client';
import { type LazyKafkaClient, lazyKafkaClient } from '../../gateway/kafka-lazy.ts';
import type { Capability, CapabilityModule } from '../../hosts/capability.ts';
import { jobsApi } from './api.ts';
import { registerJobsCommands } from './commands.ts';
import { demoServices, pointDemoServices } from './demo.ts';
import { jobsMigrations } from './migrations.ts';
import { JobsService } from './service.ts';
import { JobsStore } from './store.ts';

/** Largest callback body (the result contract with its stack traces). */
const MAX_CALLBACK_BYTES = 1024 * 1024;

export interface JobsCapability extends Capability {
  service: JobsService;
  store: JobsStore;
}

export const jobsModule: CapabilityModule<JobsCapability> = {
  name: 'jobs',
  migrations: jobsMigrations,
  create(host) {
    const store = new JobsStore(host.db, host.schema);
    const registers = [host.metrics.registry];
    const runs = new Counter({
      name: 'chronops_job_runs_total',
      help: 'HTTP job runs by job and status (success, partial, failed, retrying, missed, skipped)',
      labelNames: ['job', 'status'] as const,
      registers,
    });
    const durations = new Histogram({
      name: 'chronops_job_run_duration_seconds',
      help: 'Duration of one call of an HTTP job (request sent to answer read)',
      labelNames: ['job'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    const lateness = new Histogram({
      name: 'chronops_job_lateness_seconds',
      help: 'Delay between an HTTP job run being due and its request being sent',
      labelNames: ['job'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers,
    });
    let base: string | undefined;
    const publicUrl = process.env.CHRONOPS_PUBLIC_URL?.replace(/\/+$/, '');
    const demo = host.config.aws.simulate !== undefined;
    // Work waits for this: the server answers HTTP (and the demo services are pointed at it).
    const ready = host.listening.then((url) => {
      base = publicUrl ?? url;
      if (demo && url) pointDemoServices(host.config.services, url);
      return url;
    });
    // Kafka mode: one producer, made when a job first needs it (a second client beside the relay's: same adapter).
    const k = host.config.kafka;
    let kafka: LazyKafkaClient | undefined;
    const service = new JobsService({
      ...(k
        ? {
            kafka: () =>
              (kafka ??= lazyKafkaClient({
                brokers: k.brokers,
                clientId: `${k.clientId}-jobs`,
                acks: k.acks,
                idempotent: k.idempotent,
                tls: k.tls,
                ...(k.sasl ? { sasl: k.sasl } : {}),
                timeoutMs: 3000,
                retries: 0,
              })),
          }
        : {}),
      store,
      timers: host.timers,
      services: host.services,
      notifier: { send: (to, message, key) => host.notifier.send(to, message, { key }) },
      jobs: host.config.jobs.jobs,
      node: host.node,
      logger: host.logger,
      ready,
      callbackBase: () => base,
      runUrl: (id) => (base ? `${base}/#jobs/runs/${id}` : undefined),
      metrics: {
        run: (job, status) => runs.inc({ job, status }),
        duration: (job, seconds) => durations.observe({ job }, seconds),
        lateness: (job, seconds) => lateness.observe({ job }, seconds),
      },
    });
    let sweeper: NodeJS.Timeout | undefined;
    const api = jobsApi(service, host.config);
    if (demo) api.route('/demo', demoServices(host.config.services));
    // Callback mode: POST /jobs/runs/<id>/result, outside the API (the one-run token and the signature prove it).
    const routes = new Hono();
    routes.post('/jobs/runs/:id/result', async (c) => {
      if (Number(c.req.header('content-length') ?? 0) > MAX_CALLBACK_BYTES) {
        return c.json({ error: { message: `the body is larger than ${MAX_CALLBACK_BYTES} bytes` } }, 413);
      }
      const body = await c.req.text();
      if (Buffer.byteLength(body) > MAX_CALLBACK_BYTES) {
        return c.json({ error: { message: `the body is larger than ${MAX_CALLBACK_BYTES} bytes` } }, 413);
      }
      const answer = await service.callback(c.req.param('id'), {
        token: c.req.header('x-chronops-callback-token'),
        ...(c.req.header('x-chronops-timestamp') ? { timestamp: c.req.header('x-chronops-timestamp')! } : {}),
        ...(c.req.header('x-chronops-signature') ? { signature: c.req.header('x-chronops-signature')! } : {}),
        body,
      });
      return c.json(answer.body, answer.status as 200);
    });
    return {
      service,
      store,
      routes,
      timers: service.timerHandlers(),
      api,
      commands: (router) => {
        registerJobsCommands(router, service);
      },
      start: async () => {
        await service.sync();
        sweeper = setInterval(
          () => {
            service
              .sweep()
              .catch((error: unknown) => host.logger.error({ err: error }, 'jobs: sweep failed'));
          },
          Math.max(1000, (host.pollMs ?? 1000) * 30),
        );
        sweeper.unref();
      },
      stop: async () => {
        if (sweeper) clearInterval(sweeper);
        await kafka?.close().catch(() => {});
        await store.idle();
      },
    };
  },
};
