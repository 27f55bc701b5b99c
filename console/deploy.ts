/**
 * `npm run console:deploy`: uploads the built console to the stack's console bucket, with a
 * `console/config.json` for this deployment (the API's URL and the Cognito pool the sign-in
 * page calls), read from the stack outputs `cdk deploy --outputs-file cdk-outputs.json` wrote.
 *
 * Hashed bundles go first and are immutable; config.json and index.html last, revalidated on
 * every load, so a page never references a bundle that is not there yet and no CloudFront
 * invalidation is needed. Bundles of older builds stay (a tab still open on one keeps working).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { buildConsole, ensureConsoleBuilt } from './build.ts';
import { CONSOLE_DIST } from './paths.ts';

export interface StackOutputs {
  ConsoleBucketName: string;
  ApiUrl: string;
  UserPoolId: string;
  UserPoolClientId: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};
const REVALIDATE = 'no-cache';
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** What the sign-in page needs: the pool's Region is the prefix of its id (`eu-west-1_AbC`). */
export const consoleConfig = (outputs: StackOutputs) => ({
  apiUrl: outputs.ApiUrl.replace(/\/+$/, ''),
  signIn: {
    kind: 'cognito',
    region: outputs.UserPoolId.split('_')[0],
    userPoolId: outputs.UserPoolId,
    clientId: outputs.UserPoolClientId,
  },
});

const filesOf = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : [join(dir, entry.name)],
  );

/** Uploads `dir` (a built console) and the config; returns the keys in upload order. */
export const deployConsole = async (
  s3: S3Client,
  outputs: StackOutputs,
  dir = CONSOLE_DIST,
): Promise<string[]> => {
  const files = filesOf(dir)
    .map((file) => relative(dir, file).split('\\').join('/'))
    .filter((key) => TYPES[extname(key)] && key !== 'index.html');
  const put = async (key: string, body: Buffer | string, cacheControl: string) => {
    await s3.send(
      new PutObjectCommand({
        Bucket: outputs.ConsoleBucketName,
        Key: key,
        Body: body,
        ContentType: TYPES[extname(key)],
        CacheControl: cacheControl,
      }),
    );
    return key;
  };
  const keys: string[] = [];
  for (const key of files) keys.push(await put(key, readFileSync(join(dir, key)), IMMUTABLE));
  keys.push(await put('console/config.json', JSON.stringify(consoleConfig(outputs)), REVALIDATE));
  keys.push(await put('index.html', readFileSync(join(dir, 'index.html')), REVALIDATE));
  return keys;
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? 'cdk-outputs.json';
  const stacks = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Partial<StackOutputs>>;
  const [name, outputs] = Object.entries(stacks).find(([, values]) => values.ConsoleBucketName) ?? [];
  if (
    !name ||
    !outputs?.ApiUrl ||
    !outputs.UserPoolId ||
    !outputs.UserPoolClientId ||
    !outputs.ConsoleBucketName
  ) {
    console.error(
      `${file}: no stack with ConsoleBucketName, ApiUrl, UserPoolId and UserPoolClientId outputs`,
    );
    process.exit(1);
  }
  if (process.argv.includes('--rebuild')) buildConsole();
  else ensureConsoleBuilt();
  const region = outputs.UserPoolId.split('_')[0];
  const keys = await deployConsole(new S3Client({ region }), outputs as StackOutputs);
  console.info(`${name}: uploaded ${keys.length} files to s3://${outputs.ConsoleBucketName}/`);
}
