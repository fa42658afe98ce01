// The result contract a team's service answers in (seed 001):
//   {"contents": {"failTenants": [...], "failCount": n, "failDetails": [{"tenant", "stackTrace"}], "successTenants": [...]}}
// A 2xx with it is a success, or a partial failure when failCount > 0; a 2xx without it is a success whose body
// is kept (cut); anything else is a failure. Tenants may be numbers in some services: they are kept as strings.
import { z } from 'zod';

const tenant = z.union([z.string(), z.number()]).transform(String);

export const ResultContract = z.object({
  contents: z.object({
    failTenants: z.array(tenant).default([]),
    failCount: z.number().int().min(0).optional(),
    failDetails: z
      .array(
        z.object({
          tenant,
          stackTrace: z
            .string()
            .nullish()
            .transform((s) => s ?? ''),
        }),
      )
      .default([]),
    successTenants: z.array(tenant).default([]),
  }),
});

export interface JobResult {
  failTenants: string[];
  failCount: number;
  failDetails: Array<{ tenant: string; stackTrace: string }>;
  successTenants: string[];
}

/** The result in `body` (raw text), or undefined when it is not the contract (not JSON, or another shape). */
export function parseResult(body: string): JobResult | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  return resultOf(json);
}

/** The result in an already parsed body. */
export function resultOf(json: unknown): JobResult | undefined {
  const parsed = ResultContract.safeParse(json);
  if (!parsed.success) return undefined;
  const c = parsed.data.contents;
  return {
    failTenants: c.failTenants,
    // failCount is the service's word; without it, the failed tenants listed.
    failCount: c.failCount ?? Math.max(c.failTenants.length, c.failDetails.length),
    failDetails: c.failDetails,
    successTenants: c.successTenants,
  };
}
