/** The API's shapes, from the typed client generated from openapi.json (client/). */
import type { components } from '../../client/index.ts';

type Schemas = components['schemas'];
export type Addon = Schemas['Addon'];
export type AddonType = Schemas['AddonType'];
export type Backup = Schemas['Backup'];
export type BackupSchedule = Schemas['BackupSchedule'];
export type Credentials = Schemas['Credentials'];
export type DownloadLink = Schemas['DownloadLink'];
export type Operation = Schemas['Operation'];
export type MetricSeries = Schemas['MetricSeries'];
export type Problem = Schemas['Problem'];
export type CreateAddonRequest = Schemas['CreateAddonRequest'];
export type CreateBackupRequest = Schemas['CreateBackupRequest'];
export type CreateScheduleRequest = Schemas['CreateBackupScheduleRequest'];
export type UpdateScheduleRequest = Schemas['UpdateBackupScheduleRequest'];
export type Engine = Addon['engine'];
export type Weekday = NonNullable<BackupSchedule['days']>[number];
export type Interval = BackupSchedule['interval'];
export type Capabilities = Schemas['Capabilities'];
export type Import = Schemas['Import'];
export type CreateImportRequest = Schemas['CreateImportRequest'];
