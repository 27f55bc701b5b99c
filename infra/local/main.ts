import '#shared/util/polyfills.ts';
import { removeCliConfig, writeCliConfig } from './cli-config.ts';
import { loadLocalConfig } from './config.ts';
import { startLocalPlatform } from './platform.ts';

/** `npm start`: the whole platform on this machine. */
const main = async () => {
  const config = loadLocalConfig();
  const platform = await startLocalPlatform(config);
  const cliConfig = await writeCliConfig(platform.dataDir, { apiUrl: platform.url, token: platform.token });
  const lines = [
    `addons platform listening on ${platform.url}`,
    `  data directory: ${platform.dataDir}`,
    platform.tokenGenerated
      ? `  bearer token (generated, kept in ${platform.dataDir}/token): ${platform.token}`
      : '  bearer token: from ADDONS_TOKEN',
    `  web console: ${platform.url}/ (sign in with the bearer token)`,
    `  API docs: ${platform.url}/docs`,
    `  CLI configuration (npx addons reads it): ${cliConfig}`,
  ];
  if (platform.resumed.addons || platform.resumed.operations) {
    lines.push(
      `  brought back ${platform.resumed.addons} running addon(s), resumed ${platform.resumed.operations} operation(s)`,
    );
  }
  console.info(lines.join('\n'));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.info(`\n${signal}: stopping engines and the platform...`);
    await removeCliConfig(platform.dataDir);
    await platform.stop();
    console.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
