import { readFile, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { localPlatformForFile } from '../support/local-platform.ts';
import { operationEnded } from '../support/operations.ts';
import { pgQuery } from '../support/pg-fingerprint.ts';

/**
 * Secret groups on the local target, through HTTP as a user meets them: a PostgreSQL addon linked
 * under DATABASE_URL beside a plain variable; the document read from the API and from its 0600
 * file; a credential rotation re-publishing it (the new URL connects); the addon's delete refused
 * while linked; an external service registered and linked, its connection string in no response
 * but the document's (the secret read, under the same authorization as credentials).
 */
const TOKEN = 'e2e-secret-groups-token-0123456789';
const PROJECT = 'groups';
const api = localPlatformForFile('secret-groups', TOKEN);
const groups = `/v1/projects/${PROJECT}/secret-groups`;
const externals = `/v1/projects/${PROJECT}/external-services`;
const EXTERNAL_URL = 'postgresql://reporting:s3cr3t-Pa55@db.example.com:6543/reports?sslmode=require';

interface Document {
  documentVersion: number;
  values: Record<string, string>;
}

describe('secret groups', () => {
  let addonId: string;
  let groupId: string;
  let location: string;

  const document = async (): Promise<Document> => {
    const response = await api('GET', `${groups}/${groupId}/document`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return response.body;
  };
  const fileDocument = async () => JSON.parse(await readFile(location, 'utf8')) as Record<string, string>;

  it('publishes a linked addon under its alias with the plain variables, in the API and in a 0600 file', async () => {
    const created = await api('POST', `/v1/projects/${PROJECT}/addons`, {
      body: { name: 'orders', engine: 'postgresql' },
    });
    expect(created.status).toBe(202);
    addonId = created.body.addon.id;
    expect((await operationEnded(api, PROJECT, created.body.operation.id)).status).toBe('completed');
    const credentials = (await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}/credentials`)).body;

    const group = await api('POST', groups, {
      body: {
        name: 'web',
        links: [
          {
            addonId,
            keys: [
              { key: 'uri', alias: 'DATABASE_URL' },
              { key: 'host', alias: 'DB_HOST' },
            ],
          },
        ],
        variables: { NODE_ENV: 'production' },
      },
    });
    expect(group.status).toBe(201);
    expect(group.headers.get('location')).toBe(`${groups}/${group.body.id}`);
    expect(group.body).toMatchObject({
      name: 'web',
      documentVersion: 1,
      variables: { NODE_ENV: 'production' },
    });
    groupId = group.body.id;
    location = group.body.documentLocation;

    const published = await document();
    expect(published.values).toEqual({
      DATABASE_URL: credentials.uri,
      DB_HOST: credentials.host,
      NODE_ENV: 'production',
    });
    expect(await fileDocument()).toEqual(published.values);
    expect((await stat(location)).mode & 0o777).toBe(0o600);
    const listed = await api('GET', `${groups}?limit=1`);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([groupId]);
  });

  it('re-publishes the document when the addon rotates its credentials, and the new URL connects', async () => {
    const before = await document();
    const rotated = await api('POST', `/v1/projects/${PROJECT}/addons/${addonId}/credentials/rotate`, {
      body: {},
    });
    expect(rotated.status).toBe(200);
    const after = await document();
    expect(after.values.DATABASE_URL).toBe(rotated.body.credentials.uri);
    expect(after.values.DATABASE_URL).not.toBe(before.values.DATABASE_URL);
    expect(after.documentVersion).toBe(before.documentVersion + 1);
    expect(await fileDocument()).toEqual(after.values);
    const [row] = await pgQuery(after.values.DATABASE_URL as string, 'SELECT 1 AS one');
    expect(row).toEqual({ one: 1 });
  });

  it('refuses bad groups with a problem naming the field', async () => {
    const duplicate = await api('POST', groups, {
      body: {
        name: 'dup',
        links: [{ addonId, keys: [{ key: 'uri', alias: 'URL' }] }],
        variables: { URL: 'x' },
      },
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.errors).toEqual([expect.objectContaining({ path: 'body.variables.URL' })]);
    const unknownKey = await api('POST', groups, {
      body: { name: 'bad-key', links: [{ addonId, keys: [{ key: 'secret', alias: 'X' }] }] },
    });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.errors[0].path).toBe('body.links.0.keys.0.key');
    const unknownAddon = await api('POST', groups, {
      body: {
        name: 'bad-addon',
        links: [{ addonId: 'adn-0000000000nothere', keys: [{ key: 'uri', alias: 'X' }] }],
      },
    });
    expect(unknownAddon.status).toBe(400);
    expect(unknownAddon.body.errors[0].path).toBe('body.links.0.addonId');
  });

  it('refuses to delete a linked addon, naming the group, unless asked to unlink', async () => {
    const refused = await api('DELETE', `/v1/projects/${PROJECT}/addons/${addonId}`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain(groupId);
    expect((await api('GET', `/v1/projects/${PROJECT}/addons/${addonId}`)).body.status).toBe('running');
  });

  it('links an external service whose connection string no response but the document shows', async () => {
    const registered = await api('POST', externals, {
      body: { name: 'reporting', connectionString: EXTERNAL_URL },
    });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      engine: 'postgresql',
      host: 'db.example.com',
      port: 6543,
      database: 'reports',
      username: 'reporting',
      tls: true,
    });
    const externalId = registered.body.id as string;
    const malformed = await api('POST', externals, {
      body: { name: 'broken', connectionString: 'postgresql://user@:99999/db' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].path).toBe('body.connectionString');

    const updated = await api('PATCH', `${groups}/${groupId}`, {
      body: {
        links: [
          { addonId, keys: [{ key: 'uri', alias: 'DATABASE_URL' }] },
          {
            externalServiceId: externalId,
            keys: [
              { key: 'uri', alias: 'REPORTING_URL' },
              { key: 'password', alias: 'REPORTING_PASSWORD' },
            ],
          },
        ],
      },
    });
    expect(updated.status).toBe(200);
    expect((await document()).values).toMatchObject({
      REPORTING_URL: EXTERNAL_URL,
      REPORTING_PASSWORD: 's3cr3t-Pa55',
    });

    const responses = [
      registered,
      malformed,
      updated,
      await api('GET', `${externals}/${externalId}`),
      await api('GET', externals),
      await api('GET', `${groups}/${groupId}`),
      await api('GET', groups),
    ];
    for (const response of responses) expect(JSON.stringify(response.body)).not.toContain('s3cr3t-Pa55');

    expect((await api('DELETE', `${externals}/${externalId}`)).status).toBe(409);
    expect((await api('DELETE', `${externals}/${externalId}?unlinkGroups=true`)).status).toBe(204);
    expect(Object.keys((await document()).values).sort()).toEqual(['DATABASE_URL', 'NODE_ENV']);
  });

  it('deletes the addon when asked to unlink, then the group with its file', async () => {
    const deleted = await api('DELETE', `/v1/projects/${PROJECT}/addons/${addonId}?unlinkGroups=true`);
    expect(deleted.status).toBe(202);
    expect((await api('GET', `${groups}/${groupId}`)).body.links).toEqual([]);
    expect((await document()).values).toEqual({ NODE_ENV: 'production' });
    expect((await operationEnded(api, PROJECT, deleted.body.operation.id)).status).toBe('completed');
    expect((await api('DELETE', `${groups}/${groupId}`)).status).toBe(204);
    expect((await api('GET', `${groups}/${groupId}`)).status).toBe(404);
    await expect(stat(location)).rejects.toThrow(/ENOENT/);
  });
});
