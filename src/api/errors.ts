import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DriftdError } from '../errors.js';

/**
 * How every error leaves the API: one handler turns whatever was thrown (our HttpError, a
 * DriftdError from the pipeline or the store, fastify's own errors for bodies, URLs and
 * schemas) into the error schema `{ statusCode, code, error, message }`.
 *
 * - Client mistakes are 4xx with a stable `code` and a message naming the problem.
 * - Server-side failures are 5xx with a generic message per code and the request id; the detail
 *   (store exception text, hosts, stacks) goes to the log only, never into the response.
 * - Error bodies are serialised here, not by the route's response schema: a route's `400` may
 *   describe its success-shaped report (ingestion answers 400 when every item was rejected), and
 *   serialising an error with that schema used to fail into a 500
 *   `FST_ERR_FAILED_ERROR_SERIALIZATION` that lost the reason.
 */

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
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Seconds a client should wait before retrying a 503 (the store's or the daemon's start). */
const RETRY_AFTER_S = 5;

interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  requestId?: string;
}

/**
 * fastify's client-error codes, renamed into driftd's and explained. Anything else fastify
 * marks 4xx keeps its status, code and message.
 */
function fastifyClientError(err: FastifyError, bodyLimit: number): [number, string, string] {
  switch (err.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [
        400,
        'DRIFTD_ERR_EMPTY_BODY',
        'the body is empty: send a JSON array of items, one JSON object, or NDJSON',
      ];
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return [400, 'DRIFTD_ERR_INVALID_JSON', `the body is not valid JSON: ${err.message}`];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [
        415,
        'DRIFTD_ERR_UNSUPPORTED_MEDIA_TYPE',
        'Content-Type must be application/json or application/x-ndjson',
      ];
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [
        413,
        'DRIFTD_ERR_BODY_TOO_LARGE',
        `the body is larger than ${bodyLimit} bytes (server.bodyLimitBytes)`,
      ];
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [
        400,
        'DRIFTD_ERR_BAD_CONTENT_LENGTH',
        'the body does not match its Content-Length header',
      ];
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_INVALID_URL':
      return [400, 'DRIFTD_ERR_BAD_URL', 'the URL is not valid (bad percent-encoding?)'];
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return [414, 'DRIFTD_ERR_URL_TOO_LONG', 'a path segment of the URL is too long'];
  }
  // A JSON.parse failure (SyntaxError, prototype poisoning) comes with statusCode 400 and no code.
  if (err instanceof SyntaxError) {
    return [400, 'DRIFTD_ERR_INVALID_JSON', `the body is not valid JSON: ${err.message}`];
  }
  return [err.statusCode!, err.code ?? 'DRIFTD_ERR_BAD_REQUEST', err.message];
}

/** The message a 5xx answers with: what kind of failure, never its text. */
function serverMessage(code: string): string {
  switch (code) {
    case 'DRIFTD_ERR_STORE_UNAVAILABLE':
      return 'the store is unavailable; retry later';
    case 'DRIFTD_ERR_STORE':
      return 'the store could not complete the request';
    case 'DRIFTD_ERR_KAFKA_BUSY':
      return 'the Kafka consumer is retrying a failing write (store or dead-letter topic); retry later';
    case 'DRIFTD_ERR_NOT_READY':
      return 'driftd is not running (starting, waiting for its store, or stopping); retry later';
    default:
      return 'internal error';
  }
}

function classify(
  err: FastifyError | HttpError | DriftdError,
  bodyLimit: number,
): [number, string, string] {
  if (err instanceof HttpError) return [err.statusCode, err.code, err.message];
  if (err instanceof DriftdError) {
    if (err.code === 'DRIFTD_ERR_NOT_FOUND') return [404, err.code, err.message];
    if (err.code === 'DRIFTD_ERR_INVALID_INPUT') return [400, err.code, err.message];
    if (err.code === 'DRIFTD_ERR_IDEMPOTENCY_KEY_REUSED') return [422, err.code, err.message];
    if (err.code === 'DRIFTD_ERR_STORE' || err.code === 'DRIFTD_ERR_STORE_UNAVAILABLE')
      return [503, err.code, err.message];
    // E.g. a config reload waiting on a Kafka batch retrying a write.
    if (err.code === 'DRIFTD_ERR_KAFKA' && err.retriable)
      return [503, 'DRIFTD_ERR_KAFKA_BUSY', err.message];
    // E.g. the store closed under a request in flight at shutdown.
    if (err.code === 'DRIFTD_ERR_LIFECYCLE') return [503, 'DRIFTD_ERR_NOT_READY', err.message];
    return [500, err.code, err.message];
  }
  if ('validation' in err && err.validation) {
    return [400, 'DRIFTD_ERR_VALIDATION', err.message];
  }
  const status = (err as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return fastifyClientError(err as FastifyError, bodyLimit);
  }
  return [500, 'DRIFTD_ERR_INTERNAL', err.message];
}

/** Sends an error body with its own serialiser (never the route's response schema). */
function sendError(reply: FastifyReply, body: ErrorBody): void {
  if (body.statusCode === 503) void reply.header('retry-after', String(RETRY_AFTER_S));
  void reply
    .status(body.statusCode)
    .type('application/json; charset=utf-8')
    .serializer(JSON.stringify)
    .send(body);
}

/**
 * fastify's `frameworkErrors` option: a URL the router cannot decode (bad percent-encoding) or
 * a too long path segment, answered before any route (or the error handler) is involved.
 */
export function frameworkErrors(
  err: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const [status, code, message] = fastifyClientError(err, 0);
  sendError(reply, { statusCode: status, code, error: STATUS_TEXT[status] ?? 'Error', message });
}

/**
 * fastify's `clientErrorHandler` option: a request Node's HTTP parser refused or timed out
 * before fastify saw it (a deadline of server.requestTimeoutMs / headersTimeoutMs passed,
 * headers over Node's limit, malformed HTTP), answered in the error schema on the raw socket,
 * which is then closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let code = 'DRIFTD_ERR_BAD_HTTP';
  let message = 'the request is not valid HTTP/1.1';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    code = 'DRIFTD_ERR_REQUEST_TIMEOUT';
    message =
      'the request did not arrive in time (server.requestTimeoutMs, headers: server.headersTimeoutMs)';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    code = 'DRIFTD_ERR_HEADERS_TOO_LARGE';
    message = `the request headers are larger than ${maxHeaderSize} bytes`;
  }
  const body = JSON.stringify({ statusCode: status, code, error: STATUS_CODES[status], message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export function installErrorHandler(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler(
    (err: FastifyError | HttpError | DriftdError, request: FastifyRequest, reply) => {
      const [status, code, detail] = classify(err, bodyLimit);
      if (status >= 500) {
        // The detail stays here: hosts, store exception text and stacks never reach a client.
        // (Not ready is a state, not a failure: the daemon logs what it waits for elsewhere.)
        if (code === 'DRIFTD_ERR_NOT_READY') request.log.debug({ url: request.url }, 'not ready');
        else request.log.error({ err, code, url: request.url }, 'request failed');
        sendError(reply, {
          statusCode: status,
          code,
          error: STATUS_TEXT[status] ?? 'Error',
          message: `${serverMessage(code)} (request ${request.id}; the daemon log has the details)`,
          requestId: String(request.id),
        });
        return;
      }
      sendError(reply, {
        statusCode: status,
        code,
        error: STATUS_TEXT[status] ?? 'Error',
        message: detail,
      });
    },
  );

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, {
      statusCode: 404,
      code: 'DRIFTD_ERR_NOT_FOUND',
      error: STATUS_TEXT[404]!,
      message: `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)} (the API is described at /openapi.json)`,
    });
  });
}
