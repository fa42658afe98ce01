// A small hierarchy of errors that know how they should reach a person: each has a stable code, an HTTP
// status for the API, and an optional cause.

export interface FieldIssue {
  /** Dotted path of the bad field, e.g. `resources.ecs[0].maxTasks` or `--until`. */
  field: string;
  message: string;
}

export class ChronopsError extends Error {
  readonly code: string = 'internal';
  readonly status: number = 500;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input from a person or a file: nothing was stored. */
export class ValidationError extends ChronopsError {
  override readonly code = 'invalid';
  override readonly status = 400;
  readonly issues: FieldIssue[];
  constructor(issues: FieldIssue[], options?: { cause?: unknown }) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '), options);
    this.issues = issues;
  }
}

/** The configuration file is missing or wrong; chronops will not start. */
export class ConfigError extends ValidationError {
  override readonly code = 'invalid';
}

export class NotFoundError extends ChronopsError {
  override readonly code = 'not_found';
  override readonly status = 404;
}

/** The request is well formed but conflicts with the current state (e.g. cancelling a finished window). */
export class ConflictError extends ChronopsError {
  override readonly code = 'conflict';
  override readonly status = 409;
}

/** A resource not on the allow-list, or an operation the safety rules forbid. */
export class ForbiddenError extends ChronopsError {
  override readonly code = 'forbidden';
  override readonly status = 403;
}

/** A cloud API answered with an error after the retries. */
export class CloudError extends ChronopsError {
  override readonly code = 'cloud';
  override readonly status = 502;
}
