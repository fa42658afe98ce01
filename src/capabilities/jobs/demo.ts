// Demo mode (`npm start`): the team's services that chronops serves itself, so that a newcomer sees jobs run,
// tenants fail and the alert go out with nothing else running. Mounted at /api/jobs/demo/<service>/… when the
// config simulates AWS; a service with `demo: true` is pointed at it once the server listens.
//
// Every path answers in the result contract after a short while: `leave-status` (the seed's job) with one failed
// tenant and its stack trace; anything else fails a tenant every other call (so `notify.when: change` shows).
import { Hono } from 'hono';
import type { ServiceConfig } from '../../services/config.ts';
import { verifySignature } from '../../services/signature.ts';

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

const TRACE = `java.lang.IllegalStateException: no approver for leave request 4711 of tenant umbrella
\tat com.example.scheduling.LeaveStatusJob.apply(LeaveStatusJob.java:88)
\tat com.example.scheduling.LeaveStatusJob.lambda$run$0(LeaveStatusJob.java:54)
\tat java.base/java.util.ArrayList.forEach(ArrayList.java:1596)
\tat com.example.scheduling.LeaveStatusJob.run(LeaveStatusJob.java:52)`;

export function demoServices(services: Record<string, ServiceConfig>, delayMs = 300): Hono {
  const app = new Hono();
  const calls = new Map<string, number>();
  app.all('/:service/*', async (c) => {
    const service = services[c.req.param('service')];
    if (!service?.demo) return c.json({ error: 'no such demo service' }, 404);
    const body = await c.req.text();
    if (service.secret) {
      const check = verifySignature(
        service.secret,
        { timestamp: c.req.header('x-chronops-timestamp'), signature: c.req.header('x-chronops-signature') },
        body,
      );
      if (!check.ok) return c.json({ error: check.reason }, 401);
    }
    await new Promise((r) => setTimeout(r, delayMs));
    const path = c.req.path;
    const n = (calls.get(path) ?? 0) + 1;
    calls.set(path, n);
    const failing = path.endsWith('/leave-status') ? ['umbrella'] : n % 2 === 0 ? ['initech'] : [];
    return c.json({
      contents: {
        failTenants: failing,
        failCount: failing.length,
        failDetails: failing.map((tenant) => ({ tenant, stackTrace: TRACE.replaceAll('umbrella', tenant) })),
        successTenants: TENANTS.filter((t) => !failing.includes(t)),
      },
    });
  });
  return app;
}

/** Points the demo services at this server, once it listens. */
export function pointDemoServices(services: Record<string, ServiceConfig>, url: string): void {
  for (const s of Object.values(services)) {
    if (s.demo) s.baseUrl = `${url}/api/jobs/demo/${s.name}`;
  }
}
