import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { LocalConfig } from '../config.ts';
import type { LocalReplicas } from '../engines/replicas.ts';
import type { LocalEngineSupervisor } from '../engines/supervisor.ts';
import { LocalMetricsSampler } from './sampler.ts';

/**
 * The local target's metrics: a sampler over the supervisor's running servers, rings under
 * `${dataDir}/metrics`. With `metricsSampling` off it samples nothing and only answers the rings
 * kept on disk.
 */
export const startLocalMetrics = (
  config: Pick<LocalConfig, 'dataDir' | 'metricsIntervalSeconds' | 'metricsSampling'>,
  supervisor: Pick<LocalEngineSupervisor, 'servingInstances'>,
  log: (message: string, extra?: object) => void,
  replicas?: Pick<LocalReplicas, 'runningReplicas'>,
): LocalMetricsSampler => {
  const sampler = new LocalMetricsSampler({
    dir: path.join(config.dataDir, 'metrics'),
    intervalSeconds: config.metricsIntervalSeconds,
    targets: () => supervisor.servingInstances(),
    ...(replicas ? { replicasOf: (primary) => replicas.runningReplicas(primary) } : {}),
    instanceExists: (resourceId) =>
      stat(path.join(config.dataDir, 'engines', resourceId)).then(
        () => true,
        () => false,
      ),
    log,
  });
  if (config.metricsSampling) sampler.start();
  return sampler;
};
