import type { RowDataPacket } from 'mysql2/promise';
import type { EngineMetricsReader } from '../../metrics/engine-reader.ts';
import { defined, numberOf } from '../../metrics/engine-reader.ts';
import { withPlatform } from './connect.ts';

const STATUS = ['Threads_connected', 'Threads_running', 'Questions'];

/** SHOW GLOBAL STATUS and the connection limit, as the platform's account; its own thread is left out. */
export const mysqlMetrics: EngineMetricsReader = {
  read: (ctx) =>
    withPlatform(ctx, async (connection) => {
      const [status] = await connection.query<RowDataPacket[]>(
        `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS.map(() => '?').join(',')})`,
        STATUS,
      );
      const value = (name: string) => numberOf(status.find((row) => row.Variable_name === name)?.Value);
      const [limit] = await connection.query<RowDataPacket[]>('SELECT @@max_connections AS max_connections');
      const connected = value('Threads_connected');
      const running = value('Threads_running');
      return {
        gauges: defined({
          connections: connected === undefined ? undefined : Math.max(0, connected - 1),
          'connections.limit': numberOf(limit[0]?.max_connections),
          'mysql.threads-running': running === undefined ? undefined : Math.max(0, running - 1),
        }),
        counters: defined({ questions: value('Questions') }),
      };
    }),
  fromRates: (rates) => defined({ 'mysql.queries': rates.questions }),
  // Only the replica knows how far behind it is: the primary keeps no lag of its replicas.
  // Seconds_Behind_Master is NULL while the replication threads are stopped: no value then.
  readReplica: (replica) =>
    withPlatform(replica, async (connection) => {
      const [status] = await connection.query<RowDataPacket[]>('SHOW SLAVE STATUS');
      return defined({ 'mysql.replication-lag': numberOf(status[0]?.Seconds_Behind_Master) });
    }),
};
