/**
 * One base error for the whole daemon: a stable machine-readable `code`, whether retrying can
 * help, and the underlying `cause`. One subclass per stage so callers can branch on type.
 */
export type DriftdErrorCode =
  | 'DRIFTD_ERR_INVALID_INPUT'
  | 'DRIFTD_ERR_IDEMPOTENCY_KEY_REUSED'
  | 'DRIFTD_ERR_CONFIG'
  | 'DRIFTD_ERR_DECODE'
  | 'DRIFTD_ERR_RECORD'
  | 'DRIFTD_ERR_STORE'
  | 'DRIFTD_ERR_STORE_UNAVAILABLE'
  | 'DRIFTD_ERR_BASELINE'
  | 'DRIFTD_ERR_NOT_FOUND'
  | 'DRIFTD_ERR_KAFKA'
  | 'DRIFTD_ERR_LIFECYCLE';

export interface DriftdErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

export class DriftdError extends Error {
  readonly code: DriftdErrorCode;
  readonly retriable: boolean;

  constructor(code: DriftdErrorCode, message: string, options: DriftdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad arguments to a pure function (empty sample, NaN, negative count, mismatched bins). */
export class InvalidInputError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_INVALID_INPUT', message, options);
  }
}

/** An `Idempotency-Key` sent again with another body than the request it named (HTTP 422). */
export class IdempotencyKeyReusedError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_IDEMPOTENCY_KEY_REUSED', message, options);
  }
}

/** Configuration that does not validate; `issues` lists every problem with its path. */
export class ConfigError extends DriftdError {
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = [], options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_CONFIG', message, options);
    this.issues = issues;
  }
}

/** An input event or file row that cannot be decoded or validated. */
export class DecodeError extends DriftdError {
  /** Short stable reason, used as a metric label and a dead-letter header. */
  readonly reason: string;
  constructor(reason: string, message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_DECODE', message, options);
    this.reason = reason;
  }
}

export class StoreError extends DriftdError {
  /** ClickHouse exception code when the engine reported one. */
  readonly clickhouseCode: number | undefined;
  constructor(
    message: string,
    options: DriftdErrorOptions & { clickhouseCode?: number; unavailable?: boolean } = {},
  ) {
    super(
      options.unavailable ? 'DRIFTD_ERR_STORE_UNAVAILABLE' : 'DRIFTD_ERR_STORE',
      message,
      options,
    );
    this.clickhouseCode = options.clickhouseCode;
  }
}

export class BaselineError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_BASELINE', message, options);
  }
}

export class NotFoundError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_NOT_FOUND', message, options);
  }
}

export class LifecycleError extends DriftdError {
  constructor(message: string, options: DriftdErrorOptions = {}) {
    super('DRIFTD_ERR_LIFECYCLE', message, options);
  }
}
