import type { ConnectionSecret, SecretStore } from '#shared/ports/secret-store.ts';

/** A local PostgreSQL addon's connection details, as a test's secret store starts with them. */
export const TEST_SECRET: ConnectionSecret = {
  engine: 'postgresql',
  host: '127.0.0.1',
  port: 5433,
  database: 'app',
  username: 'addonadmin',
  password: 'pw',
  uri: 'postgresql://addonadmin:pw@127.0.0.1:5433/app',
  tls: false,
};

/** A secret store holding one addon's details in memory; `value` is what was last put. */
export const memorySecrets = (): SecretStore & { value: ConnectionSecret } => {
  const store = {
    value: TEST_SECRET,
    put: async (_ref: unknown, next: ConnectionSecret) => {
      store.value = next;
    },
    get: async () => store.value,
    delete: async () => undefined,
  };
  return store;
};
