import type { EngineMetricsReader } from '../../metrics/engine-reader.ts';
import { defined, numberOf } from '../../metrics/engine-reader.ts';
import { withClient } from './connect.ts';

const OPCOUNTERS = ['insert', 'query', 'update', 'delete', 'getmore', 'command'] as const;

/** serverStatus as the platform's user; its own connection is left out. */
export const mongodbMetrics: EngineMetricsReader = {
  read: (ctx) =>
    withClient(ctx, async (client) => {
      const status = await client.db('admin').command({ serverStatus: 1, repl: 0, metrics: 0, locks: 0 });
      const connections = (status.connections ?? {}) as Record<string, unknown>;
      const opcounters = (status.opcounters ?? {}) as Record<string, unknown>;
      const current = numberOf(connections.current);
      const available = numberOf(connections.available);
      const operations = OPCOUNTERS.map((name) => numberOf(opcounters[name]));
      return {
        gauges: defined({
          connections: current === undefined ? undefined : Math.max(0, current - 1),
          'connections.limit':
            current !== undefined && available !== undefined ? current + available : undefined,
        }),
        counters: defined({
          operations: operations.every((value) => value !== undefined)
            ? operations.reduce<number>((sum, value) => sum + (value ?? 0), 0)
            : undefined,
        }),
      };
    }),
  fromRates: (rates) => defined({ 'mongodb.operations': rates.operations }),
};
