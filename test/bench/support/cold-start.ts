import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LambdaAsset } from './lambda-assets.ts';

/**
 * One cold start in a fresh Node.js process, as Lambda's runtime does it: import the handler
 * module (its init code), then serve the first event. Prints, after a marker (the functions'
 * own logs go to stdout too), the time of each and what the first request answered.
 */
const COLD_START = `const [file, handlerName, event] = process.argv.slice(1);
const started = performance.now();
const module = await import(file);
const loaded = performance.now();
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST', awsRequestId: 'bench-request',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bench', memoryLimitInMB: '1024',
  logGroupName: 'bench', logStreamName: 'bench', callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10000,
};
let outcome;
try {
  const result = await module[handlerName](JSON.parse(event), context);
  outcome = result && typeof result === 'object' && 'statusCode' in result ? 'HTTP ' + result.statusCode : 'ok';
} catch (error) {
  outcome = 'threw ' + (error?.name ?? 'error') + ': ' + String(error?.message ?? error).slice(0, 100);
}
const served = performance.now();
process.stdout.write('\\n@@cold-start ' + JSON.stringify({ loadMs: loaded - started, firstMs: served - loaded, outcome }) + '\\n');`;

export interface ColdStart {
  loadMs: number;
  firstMs: number;
  /** Import and first request: what the first caller of a new instance waits for, after the runtime's own start. */
  totalMs: number;
  outcome: string;
}

/**
 * The Lambda runtime's node_modules holds only the AWS SDK; the project's `@aws-sdk` packages
 * stand in for it (the clients the bundles load from the runtime on first use). Any other
 * package left out of a bundle still fails to load, as on Lambda.
 */
export const runtimeNodePath = (outdir: string, projectRoot: string): string => {
  const nodeModules = join(outdir, 'lambda-runtime', 'node_modules');
  mkdirSync(nodeModules, { recursive: true });
  symlinkSync(join(projectRoot, 'node_modules', '@aws-sdk'), join(nodeModules, '@aws-sdk'));
  return nodeModules;
};

export const coldStart = (asset: LambdaAsset, endpointUrl: string, nodePath: string): Promise<ColdStart> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        COLD_START,
        pathToFileURL(asset.file).href,
        asset.handlerName,
        JSON.stringify(asset.event),
      ],
      {
        cwd: asset.dir,
        env: {
          PATH: process.env.PATH,
          NODE_PATH: nodePath,
          LAMBDA_TASK_ROOT: asset.dir,
          AWS_REGION: 'eu-west-1',
          AWS_DEFAULT_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AWS_SESSION_TOKEN: 'bench',
          AWS_ENDPOINT_URL: endpointUrl,
          AWS_LAMBDA_FUNCTION_NAME: asset.name.replaceAll('/', '-'),
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
          ...asset.environment,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((text) => text.startsWith('@@cold-start '));
      if (code !== 0 || !line) {
        reject(new Error(`${asset.name}: the cold start failed (exit ${code}):\n${stderr || stdout}`));
        return;
      }
      const result = JSON.parse(line.slice('@@cold-start '.length)) as Omit<ColdStart, 'totalMs'>;
      resolve({ ...result, totalMs: result.loadMs + result.firstMs });
    });
  });
