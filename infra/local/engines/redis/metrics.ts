import type { EngineMetricsReader } from '../../metrics/engine-reader.ts';
import { defined, numberOf } from '../../metrics/engine-reader.ts';
import { asPlatform } from './connect.ts';

/** `field:value` lines of INFO. */
export const parseInfo = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((line) => line && !line.startsWith('#') && line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  );

/** INFO as the platform's user over the socket; that connection is left out of the clients. */
export const redisMetrics: EngineMetricsReader = {
  async read(ctx) {
    const [reply] = await asPlatform(ctx, [['INFO']]);
    if (typeof reply !== 'string') throw new Error('INFO gave no text');
    const info = parseInfo(reply);
    const clients = numberOf(info.connected_clients);
    return {
      gauges: defined({
        connections: clients === undefined ? undefined : Math.max(0, clients - 1),
        'connections.limit': numberOf(info.maxclients),
        'redis.memory': numberOf(info.used_memory),
      }),
      counters: defined({
        evicted: numberOf(info.evicted_keys),
        hits: numberOf(info.keyspace_hits),
        misses: numberOf(info.keyspace_misses),
      }),
    };
  },
  fromRates(rates) {
    const lookups = (rates.hits ?? 0) + (rates.misses ?? 0);
    return defined({
      'redis.evictions': rates.evicted,
      'redis.hit-ratio':
        rates.hits !== undefined && rates.misses !== undefined && lookups > 0
          ? (100 * rates.hits) / lookups
          : undefined,
    });
  },
};
