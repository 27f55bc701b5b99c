import type pg from 'pg';
import { JOB_APPLICATION_NAMES } from '#shared/jobs/application-names.ts';
import type { InstanceContext } from '../driver.ts';
import type { JobSessionReader } from '../job-sessions.ts';
import { platformConnect, platformRoleOf } from './connect.ts';

/**
 * The backends of the jobs' sessions, by the application name the jobs connect with, and the WAL
 * archiver, whose session the archive command runs in (a restore's writes are archived as it
 * loads), over one platform connection kept while the job runs (a new connection is a new backend
 * each time).
 */
export const postgresJobSessions = (ctx: InstanceContext): JobSessionReader => {
  let client: Promise<pg.Client> | undefined;
  return {
    async pids() {
      client ??= platformConnect(ctx)(platformRoleOf(ctx).username, 'postgres');
      try {
        const { rows } = await (await client).query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[]) OR backend_type = 'archiver'`,
          [Object.values(JOB_APPLICATION_NAMES)],
        );
        return rows.map((row) => row.pid);
      } catch (error) {
        const failed = client;
        client = undefined;
        await (await failed.catch(() => undefined))?.end().catch(() => undefined);
        throw error;
      }
    },
    async close() {
      await (await client?.catch(() => undefined))?.end().catch(() => undefined);
    },
  };
};
