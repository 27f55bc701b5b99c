import { AddonPathSchema } from '../../schemas/addon.ts';
import {
  CreateScheduleRequestSchema,
  ScheduleListSchema,
  SchedulePathSchema,
  ScheduleSchema,
  UpdateScheduleRequestSchema,
} from '../../schemas/backup.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/** Backup schedules of an addon. */
export const schedulesRoutes = {
  createBackupSchedule: defineRoute({
    operationId: 'createBackupSchedule',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/backup-schedules',
    summary: 'Schedule backups (UTC): hourly, daily or weekly, with retention in days',
    tags: ['backups'],
    fn: 'backups',
    auth: true,
    idempotent: true,
    params: AddonPathSchema,
    body: CreateScheduleRequestSchema,
    responses: {
      201: { description: 'The schedule', schema: ScheduleSchema },
      ...errors,
      422: problem(
        "Not supported here, the addon's schedule quota is used up, or its backups would be closer than the minimum interval (`quota`, `limit`)",
      ),
    },
  }),
  listBackupSchedules: defineRoute({
    operationId: 'listBackupSchedules',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}/backup-schedules',
    summary: "The addon's backup schedules",
    tags: ['backups'],
    fn: 'backups',
    auth: true,
    params: AddonPathSchema,
    responses: { 200: { description: 'Schedules', schema: ScheduleListSchema }, ...errors },
  }),
  updateBackupSchedule: defineRoute({
    operationId: 'updateBackupSchedule',
    method: 'patch',
    path: '/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}',
    summary: 'Change a schedule; the result is validated as a whole',
    tags: ['backups'],
    fn: 'backups',
    auth: true,
    params: SchedulePathSchema,
    body: UpdateScheduleRequestSchema,
    responses: {
      200: { description: 'The schedule', schema: ScheduleSchema },
      ...errors,
      422: problem("The addon's backups would be closer than the minimum interval (`quota`, `limit`)"),
    },
  }),
  deleteBackupSchedule: defineRoute({
    operationId: 'deleteBackupSchedule',
    method: 'delete',
    path: '/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}',
    summary: 'Delete a schedule (its backups stay until their retention ends)',
    tags: ['backups'],
    fn: 'backups',
    auth: true,
    params: SchedulePathSchema,
    responses: { 204: { description: 'Deleted' }, ...errors },
  }),
} as const;
