import type { ModelConfig } from '../config/types.js';
import { notFound } from './errors.js';

/**
 * The configured model a path names, or 404. The answer never lists the configured models: a
 * client learns whether the model it asked for exists, not what else is monitored.
 */
export function modelOf(models: ReadonlyMap<string, ModelConfig>, id: string): ModelConfig {
  const m = models.get(id);
  if (!m) throw notFound(`model "${id}" is not configured`);
  return m;
}
