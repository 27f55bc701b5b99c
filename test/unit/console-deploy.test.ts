import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { consoleConfig, deployConsole } from '../../console/deploy.ts';

const outputs = {
  ConsoleBucketName: 'addons-console-bucket',
  ApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
  UserPoolId: 'eu-west-1_AbCdEf',
  UserPoolClientId: 'client-id-1',
};

describe('console deploy', () => {
  it('writes the sign-in config of the deployment from the stack outputs', () => {
    expect(consoleConfig(outputs)).toEqual({
      apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
      signIn: {
        kind: 'cognito',
        region: 'eu-west-1',
        userPoolId: 'eu-west-1_AbCdEf',
        clientId: 'client-id-1',
      },
    });
  });

  it('uploads hashed bundles immutable first, then config.json and index.html revalidated, and no source maps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'console-dist-'));
    mkdirSync(join(dir, 'console'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'console', 'app-AAAA.js'), 'js');
    writeFileSync(join(dir, 'console', 'app-AAAA.js.map'), '{}');
    writeFileSync(join(dir, 'console', 'app-BBBB.css'), 'css');
    writeFileSync(join(dir, '.sources'), 'digest');
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({});

    const keys = await deployConsole(new S3Client({ region: 'eu-west-1' }), outputs, dir);

    expect(keys.slice(-2)).toEqual(['console/config.json', 'index.html']);
    expect(keys.slice(0, -2).sort()).toEqual(['console/app-AAAA.js', 'console/app-BBBB.css']);
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts.every((put) => put.Bucket === 'addons-console-bucket')).toBe(true);
    const byKey = new Map(puts.map((put) => [put.Key, put]));
    expect(byKey.get('console/app-AAAA.js')).toMatchObject({
      ContentType: 'text/javascript; charset=utf-8',
      CacheControl: 'public, max-age=31536000, immutable',
    });
    expect(byKey.get('index.html')).toMatchObject({
      ContentType: 'text/html; charset=utf-8',
      CacheControl: 'no-cache',
    });
    expect(JSON.parse(String(byKey.get('console/config.json')?.Body))).toEqual(consoleConfig(outputs));
    s3.restore();
  });
});
