// `${NAME}` references in the config file: a secret (a token in a header, a signing secret, a webhook URL) is
// named in the file and read from the environment, so that the file can be shared and the value never is.
import type { FieldIssue } from './errors.ts';

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** True when `value` holds at least one `${NAME}` reference. */
export function hasEnvRef(value: string): boolean {
  return new RegExp(REF.source).test(value);
}

/**
 * `${NAME}` references → the environment's values. A variable that is unset or blank is an issue naming the
 * field and the variable (never its value); the result is then undefined.
 */
export function resolveEnvRefs(
  value: string,
  env: NodeJS.ProcessEnv,
  field: string,
  issues: FieldIssue[],
): string | undefined {
  let ok = true;
  const out = value.replace(REF, (_m, name: string) => {
    const v = env[name]?.trim();
    if (!v) {
      ok = false;
      issues.push({ field, message: `the environment variable ${name} is not set` });
      return '';
    }
    return v;
  });
  return ok ? out : undefined;
}
