import type { FastifyError, FastifyInstance } from 'fastify';
import { DriftdError } from '../errors.js';

/** HTTP errors carrying a stable code; the error handler turns them into the error schema. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) =>
  new HttpError(400, 'DRIFTD_ERR_BAD_REQUEST', message);
export const notFound = (message: string) => new HttpError(404, 'DRIFTD_ERR_NOT_FOUND', message);

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError | DriftdError, request, reply) => {
    let status = 500;
    let code = 'DRIFTD_ERR_INTERNAL';
    let message = 'internal error';
    if (err instanceof HttpError) {
      status = err.statusCode;
      code = err.code;
      message = err.message;
    } else if (err instanceof DriftdError) {
      status =
        err.code === 'DRIFTD_ERR_NOT_FOUND'
          ? 404
          : err.code === 'DRIFTD_ERR_INVALID_INPUT'
            ? 400
            : 503;
      code = err.code;
      message = err.message;
    } else if ('validation' in err && err.validation) {
      status = 400;
      code = 'DRIFTD_ERR_VALIDATION';
      message = err.message;
    } else if (
      typeof (err as FastifyError).statusCode === 'number' &&
      (err as FastifyError).statusCode! < 500
    ) {
      status = (err as FastifyError).statusCode!;
      code = (err as FastifyError).code ?? 'DRIFTD_ERR_BAD_REQUEST';
      message = err.message;
    }
    if (status >= 500) request.log.error({ err }, 'request failed');
    void reply
      .status(status)
      .send({ statusCode: status, code, error: STATUS_TEXT[status] ?? 'Error', message });
  });
}
