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
  return quickResult(json) ?? checkedResult(json);
}

const isTenant = (t: unknown): t is string | number => typeof t === 'string' || typeof t === 'number';

/**
 * The usual answer, read by hand: a burst of a thousand answers is read in a fraction of the schema's time
 * (bench:jobs). Anything it is not sure of is left to the schema (undefined), so the two never disagree.
 */
function quickResult(json: unknown): JobResult | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const c = (json as { contents?: unknown }).contents;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return undefined;
  const { failTenants = [], failCount, failDetails = [], successTenants = [] } = c as Record<string, unknown>;
  if (!Array.isArray(failTenants) || !failTenants.every(isTenant)) return undefined;
  if (!Array.isArray(successTenants) || !successTenants.every(isTenant)) return undefined;
  if (failCount !== undefined && !(Number.isInteger(failCount) && (failCount as number) >= 0))
    return undefined;
  if (!Array.isArray(failDetails)) return undefined;
  const details: JobResult['failDetails'] = [];
  for (const d of failDetails) {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
    const { tenant, stackTrace } = d as { tenant?: unknown; stackTrace?: unknown };
    if (!isTenant(tenant)) return undefined;
    if (stackTrace !== undefined && stackTrace !== null && typeof stackTrace !== 'string') return undefined;
    details.push({ tenant: String(tenant), stackTrace: stackTrace ?? '' });
  }
  const failed = failTenants.map(String);
  return {
    failTenants: failed,
    failCount: (failCount as number | undefined) ?? Math.max(failed.length, details.length),
    failDetails: details,
    successTenants: successTenants.map(String),
  };
}

/** The result as the schema reads it (every case; tests compare the quick reading with it). */
export function checkedResult(json: unknown): JobResult | undefined {
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
