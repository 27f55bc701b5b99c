import { type EngineFacts, NO_CAPABILITIES, NOT_YET, RDS_PLANS, uriOf } from '../engine-facts.ts';

export const mysql: EngineFacts = {
  catalog: {
    displayName: 'MySQL',
    service: { aws: 'Amazon RDS for MySQL', local: 'MariaDB server process' },
    versions: { aws: ['8.0', '8.4'], local: ['10.11'] },
    defaultVersion: { aws: '8.4', local: '10.11' },
    plans: RDS_PLANS,
    defaultPlan: 'nano',
    storageGiB: { min: 20, max: 1024, default: 20 },
    maxReplicas: 5,
    capabilities: { aws: NO_CAPABILITIES, local: NO_CAPABILITIES },
    notes: { aws: [NOT_YET], local: [NOT_YET] },
  },
  // MySQL Shell and Connector/J read `ssl-mode`; most drivers take the same name.
  connectionUri: (secret) => uriOf('mysql', secret, secret.tls ? { 'ssl-mode': 'REQUIRED' } : {}),
  // mariadb-dump / mysqldump output: an SQL script.
  dumpExtension: 'sql',
};
