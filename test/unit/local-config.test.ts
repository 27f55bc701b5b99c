import { describe, expect, it } from 'vitest';
import { loadLocalConfig } from '#infra/local/config.ts';

describe('the local configuration', () => {
  it('passes every engine tool location (ADDONS_<ENGINE>_BIN_DIR) on to the job processes, and nothing else', () => {
    const config = loadLocalConfig({
      ADDONS_PG_BIN_DIR: '/opt/pg/bin',
      ADDONS_MYSQL_BIN_DIR: '/opt/mysql/bin',
      ADDONS_MONGODB_BIN_DIR: '/opt/mongodb-database-tools/bin',
      ADDONS_MONGOD: '/opt/mongodb/bin/mongod',
      ADDONS_EMPTY_BIN_DIR: '',
      ADDONS_TOKEN: 'not-a-tool-location-0123456789',
    });

    expect(config.jobToolEnv).toEqual({
      ADDONS_PG_BIN_DIR: '/opt/pg/bin',
      ADDONS_MYSQL_BIN_DIR: '/opt/mysql/bin',
      ADDONS_MONGODB_BIN_DIR: '/opt/mongodb-database-tools/bin',
    });
    expect(loadLocalConfig({}).jobToolEnv).toEqual({});
  });

  it('samples metrics every ADDONS_METRICS_INTERVAL_SECONDS, and not at all when it is 0 (rings keep the default step)', () => {
    expect(loadLocalConfig({})).toMatchObject({ metricsIntervalSeconds: 10, metricsSampling: true });
    expect(loadLocalConfig({ ADDONS_METRICS_INTERVAL_SECONDS: '5' })).toMatchObject({
      metricsIntervalSeconds: 5,
      metricsSampling: true,
    });
    expect(loadLocalConfig({ ADDONS_METRICS_INTERVAL_SECONDS: '0' })).toMatchObject({
      metricsIntervalSeconds: 10,
      metricsSampling: false,
    });
    expect(() => loadLocalConfig({ ADDONS_METRICS_INTERVAL_SECONDS: '-1' })).toThrow(
      /ADDONS_METRICS_INTERVAL_SECONDS/,
    );
  });
});
