import * as z from 'zod/mini';
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
  addonsPerProject: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
    DEFAULT_QUOTAS.addonsPerProject,
  ),
  schedulesPerAddon: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MAX_SCHEDULES_LISTED)),
    DEFAULT_QUOTAS.schedulesPerAddon,
  ),
  minScheduleIntervalMinutes: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(7 * 24 * 60)),
    DEFAULT_QUOTAS.minScheduleIntervalMinutes,
  ),
};
