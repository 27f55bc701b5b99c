import type { InstanceRecord } from '../driver.ts';

/**
 * What a plan's memory sets on a local MariaDB server, after `SERVER_SETTINGS` at every start
 * (the later option wins), so the server runs with whatever plan instance.json records:
 * - `innodb_buffer_pool_size`: a sixteenth of the plan's memory (RDS gives three quarters of the
 *   instance's; a developer's machine runs several addons side by side, so much less here: nano
 *   keeps the 64 MiB every local server had).
 * - `max_connections`: RDS's formula, memory / 12582880 bytes (nano 85, xlarge 1365).
 * An instance created before plans sized local servers (no `memoryMiB`) keeps `SERVER_SETTINGS`.
 */
export const planSettings = (record: Pick<InstanceRecord, 'memoryMiB'>): string[] => {
  const memoryMiB = record.memoryMiB;
  if (!memoryMiB) return [];
  const maxConnections = Math.max(20, Math.min(5000, Math.floor((memoryMiB * 1024 * 1024) / 12_582_880)));
  return [
    `--innodb-buffer-pool-size=${Math.max(32, Math.floor(memoryMiB / 16))}M`,
    `--max-connections=${maxConnections}`,
  ];
};
