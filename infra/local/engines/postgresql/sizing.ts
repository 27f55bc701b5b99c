import type { InstanceRecord } from '../driver.ts';

/**
 * What a plan's memory sets on a local PostgreSQL server, passed as `-c` settings at every start
 * (they win over postgresql.conf and ALTER SYSTEM), so the server runs with whatever plan
 * instance.json records: a plan change rewrites the record, then restarts the server.
 * - `shared_buffers`: an eighth of the plan's memory (RDS gives a quarter of the instance's; a
 *   developer's machine runs several addons side by side, so less here; nano keeps PostgreSQL's
 *   own 128 MB).
 * - `max_connections`: RDS's formula, memory / 9531392 bytes (nano 112, xlarge 1802).
 * - `work_mem`: the plan's memory / 256 (nano 4 MB, RDS's default, up to 64 MB on xlarge).
 * An instance created before plans sized local servers (no `memoryMiB`) keeps the defaults.
 */
export const planSettings = (record: Pick<InstanceRecord, 'memoryMiB'>): string[] => {
  const memoryMiB = record.memoryMiB;
  if (!memoryMiB) return [];
  const maxConnections = Math.max(20, Math.min(5000, Math.floor((memoryMiB * 1024 * 1024) / 9_531_392)));
  return [
    '-c',
    `shared_buffers=${Math.max(16, Math.floor(memoryMiB / 8))}MB`,
    '-c',
    `max_connections=${maxConnections}`,
    '-c',
    `work_mem=${Math.max(1024, Math.floor((memoryMiB * 1024) / 256))}kB`,
  ];
};
