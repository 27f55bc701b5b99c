import * as z from 'zod';
import { MAX_SCHEDULES_LISTED } from '../schemas/backup.ts';

/**
 * Per-project quotas. Defaults suit a small team; every value is configurable (locally
 * `ADDONS_MAX_ADDONS_PER_PROJECT`..., on AWS the Api construct's `quotas` prop). Going over
 * one is a 422 problem that names the quota and its value.
 */
export interface Quotas {
  /** Addons a project may have, whatever their status (failed and deleting ones count until gone). */
  addonsPerProject: number;
  /** Backup schedules an addon may have, enabled or not. */
  schedulesPerAddon: number;
  /**
   * The shortest time between two scheduled backups of one addon, all its enabled schedules
   * together (an hourly schedule at minutes 0 and 15 fires 15 minutes apart).
   */
  minScheduleIntervalMinutes: number;
}

export const DEFAULT_QUOTAS: Quotas = {
  addonsPerProject: 25,
  schedulesPerAddon: 10,
  minScheduleIntervalMinutes: 60,
};

/** The validators of each quota's environment variable (local and Lambda names differ by prefix). */
export const QuotaFields = {
  addonsPerProject: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_QUOTAS.addonsPerProject),
  schedulesPerAddon: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_SCHEDULES_LISTED)
    .default(DEFAULT_QUOTAS.schedulesPerAddon),
  minScheduleIntervalMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(DEFAULT_QUOTAS.minScheduleIntervalMinutes),
};
