/**
 * One catalogue of the errors the project raises. Each carries a stable `code` that logs, metrics and
 * tests key on; retry decisions read `retryable`, never the message.
 */
export class AppError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A flag, environment variable or annotation holds a value the program cannot use. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('HPS_CONFIG', problems.join('; '));
    this.problems = problems;
  }
}

/** An HTTP API (Data Plane API, Kubernetes) answered with an unexpected status or not at all. */
export class ApiError extends AppError {
  readonly status: number | undefined;
  constructor(message: string, options: { status?: number; retryable?: boolean; cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'HPS_API', message, options);
    this.status = options.status;
  }
}

/** HAProxy refused a command or a configuration. */
export class HaproxyError extends AppError {
  constructor(message: string, options: { retryable?: boolean; cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'HPS_HAPROXY', message, options);
  }
}
