/**
 * What the addon benchmarks share: a local platform started for the bench, and an addon created
 * over its HTTP API and waited for, as a customer would (POST, then poll the operation).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '#infra/local/config.ts';
import { startLocalPlatform } from '#infra/local/platform.ts';
import type { Engine } from '#shared/schemas/catalog.ts';
import { removePlatformData } from '../../support/data-dir.ts';

export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
export const ms = (value: number) => `${value.toFixed(1)} ms`;

export interface BenchPlatform {
  url: string;
  /** The platform's data directory (instances, snapshots, the S3 emulator's files). */
  dataDir: string;
  headers: Record<string, string>;
  stop(): Promise<void>;
}

/** A local platform in a fresh data directory (`<tmp>/<prefix>…`); `stop` removes it all. */
export const startBenchPlatform = async (prefix: string): Promise<BenchPlatform> => {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const platform = await startLocalPlatform({
    ...loadLocalConfig({
      ADDONS_DATA_DIR: dataDir,
      ADDONS_PORT: '0',
      // BENCH_LOG_LEVEL=INFO shows the platform's own timings (e.g. a snapshot's copy and export).
      ADDONS_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'ERROR',
      // The benches measure the platform's work, not the per-caller rate limit answering 429s.
      ADDONS_RATE_LIMIT_PER_SECOND: '100000',
      ADDONS_RATE_LIMIT_BURST: '1000000',
    }),
    token: 'bench-token-0123456789',
  });
  return {
    url: platform.url,
    dataDir,
    headers: { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' },
    stop: async () => {
      await platform.stop();
      await removePlatformData(dataDir);
    },
  };
};

/**
 * POSTs an addon (`fields`: more of the request, e.g. its plan), polls its operation until
 * completed (throws when it failed), and returns its id and credentials.
 */
export const provisionAddon = async <Credentials>(
  platform: BenchPlatform,
  name: string,
  engine: Engine,
  fields: Record<string, unknown> = {},
): Promise<{ id: string; credentials: Credentials }> => {
  const { url, headers } = platform;
  const created = await fetch(`${url}/v1/projects/bench/addons`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name, engine, ...fields }),
  });
  const { addon, operation } = (await created.json()) as {
    addon: { id: string };
    operation: { id: string };
  };
  for (;;) {
    const polled = await fetch(`${url}/v1/projects/bench/operations/${operation.id}`, { headers });
    const { status, error } = (await polled.json()) as { status: string; error: unknown };
    if (status === 'completed') break;
    if (status === 'failed') throw new Error(`provisioning failed: ${JSON.stringify(error)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const credentials = await fetch(`${url}/v1/projects/bench/addons/${addon.id}/credentials`, { headers });
  return { id: addon.id, credentials: (await credentials.json()) as Credentials };
};

/**
 * The create-to-connectable benchmark of one engine: `runs` bare engine starts (the baseline,
 * each returning its own milliseconds), then `runs` addons created over HTTP and connected to
 * with `connect`, timed from the POST; prints both medians and their ratio.
 */
export const compareProvisioning = async <Credentials>(options: {
  engine: Engine;
  runs: number;
  /** What the baseline does, for the printout. */
  baseline: string;
  bareStart: () => Promise<number>;
  connect: (credentials: Credentials) => Promise<void> | void;
  /** The goal on the ratio, printed beside it. */
  goal?: number;
}): Promise<void> => {
  const { engine, runs } = options;
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) bare.push(await options.bareStart());
  const platform = await startBenchPlatform(`bench-${engine}-platform-`);
  const provision: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const { credentials } = await provisionAddon<Credentials>(platform, `bench-${i}`, engine);
      await options.connect(credentials);
      provision.push(performance.now() - started);
    }
  } finally {
    await platform.stop();
  }
  const ratio = median(provision) / median(bare);
  console.info(`provision: POST -> connectable ${engine} addon, median of ${runs}: ${ms(median(provision))}`);
  console.info(`baseline:  ${options.baseline}, median of ${runs}: ${ms(median(bare))}`);
  console.info(
    `ratio provision/bare engine start: ${ratio.toFixed(2)}x${options.goal ? ` (goal <= ${options.goal}x)` : ''}`,
  );
};
