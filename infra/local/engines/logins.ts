import { createHmac } from 'node:crypto';

/** The user replicas of an instance log in to their primary as (engines whose replicas need one). */
export const REPLICATION_USER = 'addons_replication';

/**
 * The replication user's password: derived from the platform's own password of the instance
 * (instance.json, the platform's alone), so nothing new is stored and only the platform knows it.
 */
export const replicationPassword = (admin: { password: string }): string =>
  createHmac('sha256', admin.password).update('addons replication').digest('hex');
