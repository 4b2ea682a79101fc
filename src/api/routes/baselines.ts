import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type BaselineProgress, importBaseline } from '../../baseline/import.js';
import type { RowFormat } from '../../baseline/read.js';
import type { ModelConfig } from '../../config/types.js';
import { BaselineError } from '../../errors.js';
import { MAX_ID_LENGTH, MAX_MODEL_LENGTH, MAX_VERSION_LENGTH } from '../../limits.js';
import type { Logger } from '../../logger.js';
import { piiKeyOf } from '../../privacy/pii.js';
import { HttpError, notFound } from '../errors.js';
import { modelOf } from '../lookup.js';
import type { ApiDeps } from '../ports.js';
import { fileName, presentBaseline, presentBaselineProfile } from '../present.js';
import { removeStaleUploads, type SpooledUpload, spoolUpload, uploadTooLarge } from '../upload.js';

/** Default of server.baselineUploadMaxBytes (configs built by hand may lack it). */
export const DEFAULT_BASELINE_UPLOAD_MAX_BYTES = 4 * 1024 ** 3;

/** Media types of the training file, as the offline import reads it. */
const FORMATS: Readonly<Record<string, RowFormat>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/x-jsonlines': 'jsonl',
};

const MAX_SOURCE_LENGTH = 1024;

const object = { type: 'object', additionalProperties: true } as const;

const summarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    hash: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    rowCount: { type: 'integer' },
    source: { type: 'string', description: 'File name the baseline was imported from' },
  },
} as const;

function formatOf(req: FastifyRequest): RowFormat {
  const header = req.headers['content-type'];
  const type = header === undefined ? undefined : header.split(';')[0]!.trim().toLowerCase();
  const format = type === undefined ? undefined : FORMATS[type];
  if (format === undefined) {
    throw new HttpError(
      415,
      'DRIFTD_ERR_UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be text/csv or application/x-ndjson (the training file as \`driftd baseline import\` reads it), got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))}`,
    );
  }
  return format;
}

/**
 * Baselines through the running daemon (the embedded store is one process's): scope admin
 * imports a training file, streamed to `<dataDir>/uploads` (never held in memory; at most
 * server.baselineUploadMaxBytes) and imported there exactly as `driftd baseline import` does
 * (same content hash), then loaded into the engine, so the next window of the version is
 * evaluated against it without a restart. One import at a time; scope read lists them.
 */
export async function registerBaselineRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const maxBytes = deps.config.server.baselineUploadMaxBytes ?? DEFAULT_BASELINE_UPLOAD_MAX_BYTES;
  const uploads = join(deps.config.dataDir, 'uploads');
  const piiKey = piiKeyOf(deps.config);
  const log = deps.logger.child({ stage: 'baseline' });
  await removeStaleUploads(uploads);
  /** The request whose import runs (one at a time), null when none. */
  let running: symbol | null = null;

  /** Imports the spooled file, stores it and loads it into the engine; 422 for a bad file. */
  async function runImport(opts: {
    model: ModelConfig;
    version: string;
    format: RowFormat;
    source: string;
    upload: SpooledUpload;
    onProgress?: ((p: BaselineProgress) => void) | undefined;
  }) {
    const { model, version, source, upload } = opts;
    log.info({ model: model.id, version, bytes: upload.bytes, source }, 'baseline import started');
    let result: Awaited<ReturnType<typeof importBaseline>>;
    try {
      result = await importBaseline({
        model,
        version,
        file: upload.path,
        format: opts.format,
        piiKey,
        source,
        // Live traffic shares the event loop: 64 KiB of rows per turn kept the longest stall of
        // a 1 M-row import near 75 ms (1 MiB chunks: 190-380 ms).
        chunkBytes: 64 * 1024,
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
    } catch (err) {
      if (!(err instanceof BaselineError)) throw err;
      // The file is named by its file name, never by its spool path (nor the client's path).
      const name = fileName(source);
      throw new HttpError(
        422,
        'DRIFTD_ERR_BASELINE',
        err.message.split(upload.path).join(name).split(source).join(name),
      );
    }
    const { profile, report } = result;
    const created = await deps.store.saveBaseline(profile);
    await deps.baselines?.refresh();
    log.info(
      {
        model: model.id,
        version,
        baseline: profile.id,
        created,
        rows: report.rows,
        badRows: report.badRows.total,
      },
      'baseline imported',
    );
    // Stored with the source as given; answered, as every path is, by its file name.
    const name = fileName(source);
    return {
      created,
      profile: { ...profile, source: name },
      report: { ...report, file: name },
    };
  }

  app.get(
    '/api/v1/baselines',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listBaselines',
        summary:
          'Stored baselines by model and version, newest first (the newest of a version is the one evaluated)',
        tags: ['baselines'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { model: { type: 'string', minLength: 1, maxLength: MAX_MODEL_LENGTH } },
        },
        response: {
          200: {
            type: 'object',
            properties: { baselines: { type: 'array', items: summarySchema } },
          },
        },
      },
    },
    async (req) => {
      const { model } = req.query as { model?: string };
      const list = await deps.store.listBaselines(model === undefined ? {} : { model });
      return { baselines: list.map(presentBaseline) };
    },
  );

  app.get(
    '/api/v1/baselines/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getBaseline',
        summary: 'One stored baseline with its profile',
        description:
          "The profile a baseline holds: per feature its bins and counts (numeric: fine quantile-bin edges, the PSI grouping, summary statistics, missing and NaN counts; categorical: the top categories with counts, other, missing, distinct), the prediction's, the model's performance on the baseline data, its content hash and source file name. The raw reservoir sample and the full list of seen categories are not returned (their sizes are).",
        tags: ['baselines'],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } },
        },
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const profile = await deps.store.getBaseline(id);
      if (profile === null) throw notFound(`no baseline with id "${id}" is stored`);
      return presentBaselineProfile(profile);
    },
  );

  // Own scope: the training file's media types stream through untouched (no JSON parser).
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (req, payload, done) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) done(uploadTooLarge(maxBytes));
      else done(null, payload);
    });
    // A refusal before the whole upload arrived closes the connection: the rest of the body
    // is not read, so the connection cannot carry another request.
    scope.addHook('onSend', async (req, reply, payload) => {
      if (reply.statusCode >= 400 && !req.raw.complete) void reply.header('connection', 'close');
      return payload;
    });

    scope.post(
      '/api/v1/models/:model/versions/:version/baseline',
      {
        config: { scope: 'admin' },
        schema: {
          operationId: 'importBaseline',
          summary:
            'Import a training file (CSV or NDJSON, streamed) as the baseline of a model version',
          description:
            'The body is the file itself (Content-Type text/csv or application/x-ndjson), up to server.baselineUploadMaxBytes. 201 when stored, 200 when a baseline with the same content hash already was. The next window of the version is evaluated against it.',
          tags: ['baselines'],
          // OpenAPI's request body; the schema accepts anything (the body is a stream, read
          // by the handler), so generated clients can send the file.
          consumes: Object.keys(FORMATS),
          body: { description: 'The training file itself, as `driftd baseline import` reads it' },
          params: {
            type: 'object',
            properties: {
              model: { type: 'string', minLength: 1, maxLength: MAX_MODEL_LENGTH },
              version: { type: 'string', minLength: 1, maxLength: MAX_VERSION_LENGTH },
            },
            required: ['model', 'version'],
          },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              source: {
                type: 'string',
                minLength: 1,
                maxLength: MAX_SOURCE_LENGTH,
                description:
                  'Where the file came from, stored with the baseline (default "upload")',
              },
              progress: {
                type: 'boolean',
                description:
                  'Answer NDJSON: progress lines while the daemon imports, then a result or an error line (status 200 once the upload is in)',
              },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: { created: { type: 'boolean' }, profile: object, report: object },
            },
            201: {
              type: 'object',
              properties: { created: { type: 'boolean' }, profile: object, report: object },
            },
          },
        },
      },
      async (req, reply) => {
        const params = req.params as { model: string; version: string };
        const model = modelOf(deps.models, params.model);
        const format = formatOf(req);
        const source = (req.query as { source?: string }).source ?? 'upload';
        const body = req.body as NodeJS.ReadableStream | undefined;
        if (body === undefined || body === null) throw emptyBody();
        if (running !== null) {
          throw new HttpError(
            409,
            'DRIFTD_ERR_IMPORT_RUNNING',
            'another baseline import is running on this daemon; retry when it is done',
          );
        }
        const mine = Symbol('import');
        running = mine;
        // Only the request that holds it releases it (the NDJSON answer releases it early).
        const release = () => {
          if (running === mine) running = null;
        };
        try {
          const upload = await spoolUpload(body, {
            dir: uploads,
            extension: format,
            maxBytes,
          });
          try {
            if (upload.bytes === 0) throw emptyBody();
            const run = (onProgress?: (p: BaselineProgress) => void) =>
              runImport({ model, version: params.version, format, source, upload, onProgress });
            if ((req.query as { progress?: boolean }).progress !== true) {
              const answer = await run();
              void reply.code(answer.created ? 201 : 200);
              return answer;
            }
            // Progress lines while the daemon imports, then the answer or the error as a line.
            const lines = startLines(reply);
            let last: unknown;
            try {
              last = { result: await run((p) => lines.progress(p)) };
            } catch (err) {
              last = { error: errorLine(err, req.id, log) };
            }
            // Done before the last line: the client may send its next import at once.
            await upload.remove();
            release();
            lines.write(last);
            lines.end();
            return reply;
          } finally {
            await upload.remove();
          }
        } finally {
          release();
        }
      },
    );
  });
}

/**
 * `?progress=true`: the answer is NDJSON, status 200 once the upload is in: `{"progress": …}`
 * lines (the offline import's progress, at most every 200 ms) while the daemon imports, then
 * one `{"result": …}` (the plain answer's body) or `{"error": …}` (the error schema).
 */
function startLines(reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
  });
  let last = 0;
  const write = (line: unknown) => res.write(`${JSON.stringify(line)}\n`);
  return {
    write,
    progress(p: BaselineProgress) {
      const now = Date.now();
      if (now - last < 200 && p.fraction < 1) return;
      last = now;
      write({ progress: p });
    },
    end: () => res.end(),
  };
}

/** An error as the error schema has it; a server-side failure says only what kind, as 5xx do. */
function errorLine(err: unknown, requestId: string, log: Logger) {
  if (err instanceof HttpError) {
    return { statusCode: err.statusCode, code: err.code, message: err.message };
  }
  log.error({ err, reqId: requestId }, 'baseline import failed');
  return {
    statusCode: 500,
    code: 'DRIFTD_ERR_INTERNAL',
    message: `the import failed on the daemon (request ${requestId}; the daemon log has the details)`,
  };
}

const emptyBody = () =>
  new HttpError(400, 'DRIFTD_ERR_EMPTY_BODY', 'the body is empty: send the training file');
