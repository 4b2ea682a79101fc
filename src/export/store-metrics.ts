import type { Store } from '../store/types.js';
import type { Metrics } from './metrics.js';

/** Operation names kept from before every store call was counted (dashboards show them). */
const OPERATION: Partial<Record<keyof Store, string>> = {
  insertEncodedEvents: 'insert_events',
};

const snake = (method: string) => method.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The store, with every failed call counted in driftd_store_errors_total{operation} (the method
 * in snake_case: insert_events, save_checkpoint, query_drift, ping, migrate, …), whoever made
 * it: writers, the Kafka checkpoints, API reads, readiness probes. Errors pass through unchanged;
 * a method's result is returned as is (the event buffer is synchronous).
 */
export function countStoreErrors(store: Store, metrics: Pick<Metrics, 'storeErrors'>): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      let fn = wrapped.get(key);
      if (fn === undefined) {
        const operation = OPERATION[key as keyof Store] ?? snake(key);
        const failed = (err: unknown) => {
          metrics.storeErrors.inc({ operation });
          throw err;
        };
        fn = (...args: unknown[]) => {
          let result: unknown;
          try {
            result = (Reflect.get(target, key) as (...a: unknown[]) => unknown).apply(target, args);
          } catch (err) {
            failed(err);
          }
          return result instanceof Promise ? result.catch(failed) : result;
        };
        wrapped.set(key, fn);
      }
      return fn;
    },
  });
}
