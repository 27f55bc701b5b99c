/** The API's shapes the console reads and sends (from openapi.json's components). */
export type Engine = 'postgresql' | 'mysql' | 'redis' | 'mongodb';
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: { path: string; message: string }[];
  operationId?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Addon {
  id: string;
  projectId: string;
  name: string;
  description?: string | null;
  engine: Engine;
  version: string;
  plan: string;
  storageGiB: number;
  tls: boolean;
  status: string;
  currentOperationId?: string | null;
  endpoint?: { host: string; port: number } | null;
  createdAt: string;
}

export interface AddonType {
  engine: Engine;
  displayName: string;
  versions: { version: string }[];
  defaultVersion: string;
  plans: { id: string }[];
  defaultPlan: string;
  capabilities: {
    provision: boolean;
    dumpBackup: boolean;
    snapshotBackup: boolean;
    snapshotDownload: boolean;
  };
}

export interface Operation {
  id: string;
  type: string;
  status: 'pending' | 'in-progress' | 'completed' | 'failed' | 'aborted';
  projectId: string;
  addonId: string;
  backupId?: string | null;
  progress: { step: string; percent: number };
  error: { code: string; message: string } | null;
  message?: string;
  createdAt: string;
  completedAt: string | null;
}

export interface Backup {
  id: string;
  addonId: string;
  type: 'dump' | 'snapshot';
  status: string;
  source: string;
  sizeBytes: number | null;
  sha256: string | null;
  pinned: boolean;
  expiresAt: string | null;
  createdAt: string;
}

export interface Credentials {
  engine: Engine;
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  uri: string;
  tls: boolean;
}

export interface BackupSchedule {
  id: string;
  interval: 'hourly' | 'daily' | 'weekly';
  days: Weekday[] | null;
  hours: number[] | null;
  minutes: number[];
  retentionDays: number;
  type: 'dump' | 'snapshot';
  enabled: boolean;
  lastRun: { at: string; outcome: string; reason: string | null } | null;
}

export interface CreateAddonRequest {
  name: string;
  engine: Engine;
  version?: string;
  plan?: string;
}
export type CreateBackupRequest = { type: 'dump'; pinned?: boolean } | { type: 'snapshot'; pinned?: boolean };
export interface CreateScheduleRequest {
  interval: 'hourly' | 'daily' | 'weekly';
  days?: Weekday[];
  hours?: number[];
  minutes: number[];
  retentionDays: number;
  type?: 'dump' | 'snapshot';
}
export type UpdateScheduleRequest = Partial<CreateScheduleRequest> & { enabled?: boolean };
