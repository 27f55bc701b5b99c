import type { EngineMetricsReader, Readings } from '../../metrics/engine-reader.ts';
import { defined, numberOf } from '../../metrics/engine-reader.ts';
import { platformConnect, platformRoleOf } from './connect.ts';

/**
 * One statement per sample, as the platform's role over the socket. The sampler's own backend is
 * left out of the connections and transaction ages; its one transaction per sample is in the
 * transaction rate (0.1/s at the default interval).
 */
const SAMPLE_SQL = `
select
  (select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()) as connections,
  current_setting('max_connections')::int as max_connections,
  (select sum(xact_commit + xact_rollback) from pg_stat_database) as transactions,
  (select extract(epoch from max(clock_timestamp() - xact_start)) from pg_stat_activity
     where backend_type = 'client backend' and pid <> pg_backend_pid() and xact_start is not null) as oldest_transaction,
  (select extract(epoch from max(replay_lag)) from pg_stat_replication) as replication_lag`;

export const postgresMetrics: EngineMetricsReader = {
  async read(ctx) {
    const client = await platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
    try {
      const { rows } = await client.query(SAMPLE_SQL);
      const row = (rows[0] ?? {}) as Record<string, unknown>;
      const gauges: Readings = defined({
        connections: numberOf(row.connections),
        'connections.limit': numberOf(row.max_connections),
        // No open transaction: none is old.
        'postgresql.oldest-transaction-age': numberOf(row.oldest_transaction) ?? 0,
        'postgresql.replication-lag': numberOf(row.replication_lag),
      });
      return { gauges, counters: defined({ transactions: numberOf(row.transactions) }) };
    } finally {
      await client.end().catch(() => undefined);
    }
  },
  fromRates: (rates) => defined({ 'postgresql.transactions': rates.transactions }),
};
