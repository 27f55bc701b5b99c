import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ALIASES, PROJECT_ROOT } from '#infra/aws/bundling.ts';
import { lambdaEsbuildOptions } from './support/bundles.ts';

/**
 * What the bundling's aliases (infra/aws/bundling.ts) do inside a Lambda: the bundle holds no
 * RDS or S3 model and no presigner, loads those from the runtime's SDK on first use (here the
 * project's @aws-sdk packages, alone on NODE_PATH as on Lambda), signs requests and presigned
 * URLs with the environment's credentials (the default chain is not bundled), and refuses
 * middleware on a stand-in client.
 */
describe('a Lambda bundle with its SDK clients from the runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-runtime-sdk-'));
  const requests: Array<{ method: string; url: string; body: string; authorization: string }> = [];
  let server: Server;
  let endpoint: string;
  let inputs: string[] = [];

  beforeAll(async () => {
    const result = await build({
      ...lambdaEsbuildOptions(LAMBDA_ALIASES),
      entryPoints: [join(PROJECT_ROOT, 'test/infra/fixtures/runtime-sdk-entry.ts')],
      outfile: join(dir, 'index.mjs'),
      metafile: true,
    });
    inputs = Object.keys(result.metafile.inputs);
    mkdirSync(join(dir, 'runtime', 'node_modules'), { recursive: true });
    symlinkSync(
      join(PROJECT_ROOT, 'node_modules', '@aws-sdk'),
      join(dir, 'runtime', 'node_modules', '@aws-sdk'),
    );
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        requests.push({
          method: request.method ?? '',
          url: request.url ?? '',
          body,
          authorization: String(request.headers.authorization ?? ''),
        });
        if (request.headers['x-amz-target']) {
          response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
        } else if (body.includes('Action=DescribeDBInstances')) {
          response.writeHead(200, { 'content-type': 'text/xml' }).end(
            `<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBInstancesResult>
              <DBInstances><DBInstance><DBInstanceIdentifier>db-1</DBInstanceIdentifier></DBInstance></DBInstances>
            </DescribeDBInstancesResult></DescribeDBInstancesResponse>`,
          );
        } else if (request.method === 'GET') {
          response.writeHead(200, { 'content-type': 'text/plain' }).end('hello from s3');
        } else {
          response.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const runBundle = () =>
    new Promise<string>((resolve, reject) => {
      const script = `const m = await import(process.argv[1]); process.stdout.write(JSON.stringify(await m.run()));`;
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', script, pathToFileURL(join(dir, 'index.mjs')).href],
        {
          cwd: dir,
          env: {
            PATH: process.env.PATH,
            NODE_PATH: join(dir, 'runtime', 'node_modules'),
            AWS_REGION: 'eu-west-1',
            AWS_ACCESS_KEY_ID: 'AKIDLAMBDAENV',
            AWS_SECRET_ACCESS_KEY: 'secret',
            AWS_SESSION_TOKEN: 'token',
            AWS_ENDPOINT_URL: endpoint,
          },
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
      child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(stderr))));
    });

  it('bundles neither the RDS nor the S3 client, nor the presigner, nor the default credential chain', () => {
    const packages = [
      'client-rds',
      'client-s3',
      's3-request-presigner',
      'credential-provider-node',
      'nested-clients',
    ];
    expect(inputs.filter((input) => packages.some((name) => input.includes(`@aws-sdk/${name}/`)))).toEqual(
      [],
    );
    expect(inputs.some((input) => input.includes('@aws-sdk/client-dynamodb/'))).toBe(true);
  });

  it('calls DynamoDB (bundled), RDS and S3 (runtime), all signed with the environment credentials', async () => {
    const result = JSON.parse(await runBundle()) as {
      item: unknown;
      instances: string[];
      body: string;
      presign: string;
      middleware: string;
    };
    expect(result.item).toBeNull();
    expect(result.instances).toEqual(['db-1']);
    expect(result.body).toBe('hello from s3');
    expect(requests.map((request) => request.method)).toEqual(['POST', 'POST', 'GET', 'DELETE']);
    expect(requests[2]?.url).toMatch(/^\/bucket\/a.txt(\?|$)/);
    for (const request of requests) expect(request.authorization).toContain('Credential=AKIDLAMBDAENV/');
    // Presigning sends nothing: the URL is signed with the same credentials for the same object.
    const url = new URL(result.presign);
    expect(`${url.origin}${url.pathname}`).toBe(`${endpoint}/bucket/a.txt`);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIDLAMBDAENV\/\d{8}\/eu-west-1\/s3\/aws4_request$/,
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('token');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('response-content-disposition')).toBe('attachment; filename="a.txt"');
    expect(result.middleware).toMatch(/runtime stand-in: bundle @aws-sdk\/client-s3 to add middleware/);
  }, 60_000);
});
