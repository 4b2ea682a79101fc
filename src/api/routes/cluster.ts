import type { FastifyInstance } from 'fastify';
import type { ClusterStatus } from '../../cluster/status.js';
import type { ApiDeps } from '../ports.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const time = { type: 'string', format: 'date-time', nullable: true } as const;
const lanes = { type: 'array', items: { type: 'string' } } as const;

const clusterQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 500,
      default: 100,
      description: 'Pending windows listed at most (oldest end first)',
    },
  },
} as const;

const clusterSchema = {
  type: 'object',
  properties: {
    instance: { type: 'string', description: 'The instance answering' },
    lanesHere: { ...lanes, description: 'Lanes whose window state this instance holds' },
    laneSetKnown: {
      type: 'boolean',
      description: 'False while the Kafka partitions are not known yet: nothing is finalised',
    },
    lanes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          lane: { type: 'string', description: 'A Kafka partition (topic/p) or http:<instance>' },
          inSet: { type: 'boolean', description: 'Counts for finalisation (may hold windows)' },
          owner: {
            type: 'string',
            nullable: true,
            description: 'The instance that wrote its latest progress',
          },
          watermark: time,
          idle: { type: 'boolean' },
          retired: { type: 'boolean' },
          progressAt: time,
        },
        required: ['lane', 'inSet', 'owner', 'watermark', 'idle', 'retired', 'progressAt'],
      },
    },
    pending: {
      type: 'array',
      description: 'Windows with partials and no finalisation, oldest end first',
      items: {
        type: 'object',
        properties: {
          model: { type: 'string' },
          version: { type: 'string' },
          window: { type: 'string' },
          start: { type: 'string', format: 'date-time' },
          end: { type: 'string', format: 'date-time' },
          holding: { ...lanes, nullable: true, description: 'Lanes holding it back' },
        },
        required: ['model', 'version', 'window', 'start', 'end', 'holding'],
      },
    },
  },
  required: ['instance', 'lanesHere', 'laneSetKnown', 'lanes', 'pending'],
} as const;

function present(s: ClusterStatus) {
  return {
    instance: s.instance,
    lanesHere: s.lanesHere,
    laneSetKnown: s.laneSetKnown,
    lanes: s.lanes.map((l) => ({
      ...l,
      watermark: iso(l.watermark),
      progressAt: iso(l.progressAt),
    })),
    pending: s.pending.map((w) => ({
      model: w.model,
      version: w.version,
      window: w.sizeLabel,
      start: iso(w.start),
      end: iso(w.end),
      holding: w.holding,
    })),
  };
}

/** GET /api/v1/cluster (cluster mode; absent otherwise): lanes, owners, progress, pending windows. */
export function registerClusterRoutes(app: FastifyInstance, deps: ApiDeps) {
  const status = deps.cluster;
  if (status === undefined) return;
  app.get(
    '/api/v1/cluster',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getCluster',
        summary: 'Cluster mode: lanes, their owners and progress, and the windows waiting',
        description:
          'Every input lane the store knows of (Kafka partitions, instances’ HTTP inputs): the instance that last wrote its progress, its watermark, whether it is idle or retired and whether it counts for finalisation; and the windows with partial results not finalised yet, with the lanes holding each back (docs/scale-out.md).',
        tags: ['ops'],
        querystring: clusterQuery,
        response: { 200: clusterSchema },
      },
    },
    async (req) => {
      const { limit } = req.query as { limit: number };
      return present(await status(limit));
    },
  );
}
