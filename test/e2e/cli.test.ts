import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePlatformData } from '../support/data-dir.ts';
import { pollUntil } from '../support/http.ts';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process.ts';

/**
 * The `addons` CLI as a user runs it: `node cli/bin.js` (what `npx addons` starts) in a child
 * process against `npm start`, configured by the cli.json the local target writes, with real
 * psql behind `connect`. Exit statuses, --json output, progress lines, Ctrl-C and the SHA-256
 * check of downloads are asserted as a script would see them.
 */
const TOKEN = 'e2e-cli-token-0123456789abcdef';
const BIN = fileURLToPath(new URL('../../cli/bin.js', import.meta.url));
let dataDir: string;
let workDir: string;
let platform: PlatformProcess | undefined;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the CLI; `onStderr` sees stderr as it grows (and may signal the child). */
const start = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) => {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: workDir,
    // No ADDONS_API_URL / ADDONS_TOKEN: the CLI finds both in the data directory's cli.json.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: workDir,
      ADDONS_DATA_DIR: dataDir,
      ADDONS_PROJECT: 'cli',
      ADDONS_POLL_MS: '200',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    run.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    run.stderr += chunk.toString();
  });
  child.stdin.end(options.input ?? '');
  const done = new Promise<Run>((resolve) =>
    child.once('close', (code) => {
      run.code = code;
      resolve(run);
    }),
  );
  return { child, run, done };
};

const cli = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
  start(args, options).done;

/** Runs the CLI with --json and parses its stdout; the exit status must be `code`. */
// biome-ignore lint/suspicious/noExplicitAny: tests assert the JSON output field by field
const cliJson = async <T = Record<string, any>>(args: string[], code = 0): Promise<T> => {
  const run = await cli([...args, '--json']);
  expect(run.code, run.stderr).toBe(code);
  return JSON.parse(run.stdout) as T;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'addons-e2e-cli-'));
  workDir = await mkdtemp(join(tmpdir(), 'addons-e2e-cli-work-'));
  platform = await startPlatformProcess({ ADDONS_DATA_DIR: dataDir, ADDONS_TOKEN: TOKEN });
}, 120_000);

afterAll(async () => {
  if (platform?.child.exitCode === null) await platform.interrupt();
  await removePlatformData(dataDir);
});

describe('the addons CLI against the local target', () => {
  let addonId: string;
  let password: string;

  it('lists the addon types from the config file the local target wrote', async () => {
    expect(platform?.output()).toContain(join(dataDir, 'cli.json'));
    const catalog = await cliJson<{ items: { engine: string }[] }>(['types']);
    expect(catalog.items.map((type) => type.engine)).toContain('postgresql');
    const table = await cli(['types']);
    expect(table.stdout).toMatch(/^ENGINE\s+VERSIONS\s+PLANS\s+CAPABILITIES/);
  });

  it('creates an addon, printing its progress with step and percent, and exits 0 once it runs', async () => {
    const run = await cli(['create', 'shop', '--engine', 'postgresql', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.addon).toMatchObject({ name: 'shop', status: 'running' });
    expect(result.operation).toMatchObject({ type: 'create', status: 'completed' });
    addonId = result.addon.id;
    const progress = run.stderr.split('\n').filter((line) => line.startsWith(result.operation.id));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress)
      expect(line).toMatch(/^op-\S+ (pending|in-progress|completed) \S+ \d{1,3}%$/);
    expect(progress.at(-1)).toMatch(/completed \S+ 100%$/);
  });

  it('lists and gets the addon by name, and hides the password unless asked', async () => {
    expect((await cli(['list'])).stdout).toMatch(new RegExp(`${addonId}\\s+shop\\s+postgresql`));
    expect((await cliJson(['get', 'shop'])).id).toBe(addonId);
    password = (await cliJson(['credentials', 'shop'])).password;
    const shown = await cli(['credentials', 'shop']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('(hidden: --show-password)');
    expect(shown.stdout).not.toContain(password);
  });

  it('connects with psql: a query from -c and from stdin, the password never on screen', async () => {
    const query = await cli(['connect', 'shop', '-c', 'SELECT 1 AS one']);
    expect(query.code, query.stderr).toBe(0);
    expect(query.stdout).toMatch(/one\s*\n-+\n\s*1\n/);
    const piped = await cli(['connect', addonId, '--', '-At'], {
      input: 'CREATE TABLE t (n int);\nINSERT INTO t VALUES (41), (1);\nSELECT sum(n) FROM t;\n',
    });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.trim().split('\n').at(-1)).toBe('42');
    for (const output of [query.stdout, query.stderr, piped.stdout, piped.stderr]) {
      expect(output).not.toContain(password);
    }
    const failing = await cli(['connect', 'shop', '-c', 'SELECT * FROM missing_table']);
    expect(failing.code).not.toBe(0);
  });

  it('rotates the credentials: the new ones are published at once, --finish retires the previous', async () => {
    const rotated = await cli(['credentials', 'rotate', 'shop', '--retire-after', '3600', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout);
    expect(result.credentials.password).not.toBe(password);
    expect(result.addon.credentialRotation.previousUsername).toBeTruthy();
    expect((await cliJson(['credentials', 'shop'])).password).toBe(result.credentials.password);
    const shown = await cli(['credentials', 'rotate', 'shop', '--finish']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/previous:\s+retired/);
    expect(shown.stdout).not.toContain(result.credentials.password);
    const query = await cli(['connect', 'shop', '-c', 'SELECT 1 AS one']);
    expect(query.code, query.stderr).toBe(0);
    const again = await cli(['credentials', 'rotate', 'shop', '--finish']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('no credential rotation to finish');
    password = result.credentials.password;
  });

  it('connects to a Redis addon with redis-cli over TLS verified with the CA, the password in REDISCLI_AUTH', async () => {
    const created = await cliJson(['create', 'cache', '--engine', 'redis', '--tls']);
    expect(created.addon).toMatchObject({ status: 'running', tls: true });
    const secret = (await cliJson(['credentials', 'cache'])).password;
    const set = await cli(['connect', 'cache', '-c', 'SET greeting hello']);
    expect(set.code, set.stderr).toBe(0);
    const get = await cli(['connect', 'cache', '-c', 'GET greeting']);
    expect(get.stdout.trim()).toBe('hello');
    for (const output of [set.stdout, set.stderr, get.stdout, get.stderr])
      expect(output).not.toContain(secret);
    const deleted = await cli(['delete', 'cache', '--no-wait', '--json']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const { operation } = JSON.parse(deleted.stdout);
    expect((await cli(['operations', 'wait', operation.id])).code).toBe(0);
  });

  it('backs up, and downloads the dump verified against its SHA-256', async () => {
    const { backup, operation } = await cliJson(['backups', 'create', 'shop', '--compression', 'gzip']);
    expect(operation.status).toBe('completed');
    expect(backup).toMatchObject({ status: 'completed', type: 'dump', compression: 'gzip' });
    const file = join(workDir, 'shop.dump.gz');
    const downloaded = await cliJson(['backups', 'download', 'shop', backup.id, '-o', file]);
    expect(downloaded).toMatchObject({ file, sha256: backup.sha256, verified: true });
    const bytes = await readFile(file);
    expect(bytes.length).toBe(backup.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(backup.sha256);
    const listed = await cli(['backups', 'list', 'shop']);
    expect(listed.stdout).toContain(backup.id);
    expect((await cliJson(['backups', 'pin', 'shop', backup.id])).pinned).toBe(true);
  });

  it('exits 1 when the operation fails and 0 when a retry completes (an import with a wrong, then right SHA-256)', async () => {
    const file = join(workDir, 'shop.dump.gz');
    const created = await cliJson(['imports', 'create', 'shop', '--file', file, '--no-start']);
    expect(created.status).toBe('awaiting-upload');
    const wrong = await cli(['imports', 'start', 'shop', created.id, '--sha256', 'a'.repeat(64)]);
    expect(wrong.code, wrong.stderr).toBe(1);
    expect(wrong.stderr).toMatch(/Operation op-\S+ failed: \S+: .*SHA-256/);
    const sha256 = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    const right = await cli(['imports', 'start', 'shop', created.id, '--sha256', sha256]);
    expect(right.code, right.stderr).toBe(0);
    const piped = await cli(['connect', 'shop', '-c', 'SELECT sum(n) FROM t', '--', '-At']);
    expect(piped.stdout.trim()).toBe('42');
  });

  it('exits 2 on usage errors and 3 on API errors, printing the problem title, detail and fields', async () => {
    const missingEngine = await cli(['create', 'other']);
    expect(missingEngine.code).toBe(2);
    expect(missingEngine.stderr).toContain('--engine is required');
    const unknownOption = await cli(['list', '--bogus']);
    expect(unknownOption.code).toBe(2);
    const noProject = await cli(['list'], { env: { ADDONS_PROJECT: '' } });
    expect(noProject.code).toBe(2);

    const invalid = await cli(['create', 'Not_DNS', '--engine', 'postgresql']);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toContain('Error: The request is not valid (HTTP 400)');
    expect(invalid.stderr).toMatch(/ {2}- body\.name: must be DNS-safe/);
    const missing = await cli(['get', 'adn-doesnotexist']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('Not found (HTTP 404)');
    const badToken = await cli(['list'], { env: { ADDONS_TOKEN: 'wrong-token-0123456789' } });
    expect(badToken.code).toBe(3);
    expect(badToken.stderr).toContain('Unauthorized (HTTP 401)');
  });

  it('--no-wait returns at once with the operation; `operations wait` follows it to its end', async () => {
    const started = await cliJson(['backups', 'create', 'shop', '--no-wait']);
    expect(['pending', 'in-progress']).toContain(started.operation.status);
    const waited = await cliJson(['operations', 'wait', started.operation.id]);
    expect(waited).toMatchObject({ id: started.operation.id, status: 'completed' });
    const operations = await cliJson<{ items: { id: string }[] }>(['operations', 'list', 'shop']);
    expect(operations.items.map((item) => item.id)).toContain(started.operation.id);
  });

  it('exits 4 when the followed operation is aborted (a dump held up by a lock, aborted from another shell)', async () => {
    // A session holds a lock that pg_dump waits for, so the backup is surely running when aborted.
    const { uri } = await cliJson(['credentials', 'shop', '--show-password']);
    const holder = new pg.Client({ connectionString: uri });
    holder.on('error', () => undefined);
    await holder.connect();
    try {
      await holder.query('CREATE TABLE IF NOT EXISTS blocker (id int)');
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE');
      const started = await cliJson(['backups', 'create', 'shop', '--no-wait']);
      const waiting = start(['operations', 'wait', started.operation.id]);
      await pollUntil(
        async () =>
          (
            await holder.query(
              "SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'blocker'::regclass",
            )
          ).rows[0]?.n as number,
        (n) => n > 0,
        { what: 'pg_dump waiting on the lock', timeoutMs: 60_000 },
      );
      const aborted = await cli(['backups', 'abort', 'shop', started.backup.id]);
      expect(aborted.code, aborted.stderr).toBe(0);
      const ended = await waiting.done;
      expect(ended.code, ended.stderr).toBe(4);
      expect((await cli(['operations', 'get', started.operation.id])).code).toBe(4);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end().catch(() => undefined);
    }
  });

  it('Ctrl-C stops waiting without aborting the operation and says how to resume', async () => {
    const { child, run, done } = start(['create', 'second', '--engine', 'postgresql']);
    // Interrupt once the first progress line is out: the creation is under way.
    await new Promise<void>((resolve) => {
      const check = () => {
        if (/^op-\S+ /m.test(run.stderr)) {
          child.stderr.off('data', check);
          resolve();
        }
      };
      child.stderr.on('data', check);
      check();
    });
    child.kill('SIGINT');
    const ended = await done;
    expect(ended.code, ended.stderr).toBe(130);
    const resume = /Follow it again with: addons operations wait (op-\S+) --project cli/.exec(ended.stderr);
    expect(resume?.[1]).toBeTruthy();
    const waited = await cli(['operations', 'wait', resume?.[1] ?? '']);
    expect(waited.code, waited.stderr).toBe(0);
    expect((await cliJson(['get', 'second'])).status).toBe('running');
  });

  it('turns TLS on and off, publishes a secret group (values hidden unless asked), prints metrics and events', async () => {
    for (const [setting, tls] of [
      ['on', true],
      ['off', false],
    ] as const) {
      const changed = await cliJson(['networking', 'shop', '--tls', setting]);
      expect(changed.operation).toMatchObject({ status: 'completed' });
      expect(changed.addon).toMatchObject({ id: addonId, tls });
      expect((await cliJson(['credentials', 'shop'])).tls).toBe(tls);
    }
    expect((await cli(['networking', 'shop'])).code).toBe(2);

    const secret = (await cliJson(['credentials', 'shop'])).password as string;
    const group = await cliJson([
      'secret-groups',
      'create',
      '--name',
      'app',
      '--link',
      'shop:password=DB_PASSWORD,port=DB_PORT',
      '--var',
      'NODE_ENV=production',
    ]);
    expect(group.links).toEqual([
      {
        addonId,
        keys: [
          { key: 'password', alias: 'DB_PASSWORD' },
          { key: 'port', alias: 'DB_PORT' },
        ],
      },
    ]);
    const hidden = await cli(['secret-groups', 'document', 'app']);
    expect(hidden.code, hidden.stderr).toBe(0);
    expect(hidden.stdout).toMatch(/DB_PASSWORD\s+\(hidden: --show-values\)/);
    expect(hidden.stdout).not.toContain(secret);
    const shown = await cli(['secret-groups', 'document', 'app', '--show-values']);
    expect(shown.stdout).toMatch(new RegExp(`DB_PASSWORD\\s+${secret}`));
    expect(shown.stdout).toMatch(/NODE_ENV\s+production/);
    expect((await cli(['secret-groups', 'list'])).stdout).toMatch(new RegExp(`${group.id}\\s+app\\s+1\\s+1`));
    expect((await cli(['secret-groups', 'delete', 'app'])).code).toBe(0);
    // An external service from a connection string on stdin: never echoed, never shown again.
    const { uri } = await cliJson(['credentials', 'shop']);
    const registered = await cli(['external-services', 'create', 'outside'], { input: `${uri}\n` });
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stdout + registered.stderr).not.toContain(secret);
    expect((await cli(['external-services', 'list'])).stdout).toMatch(/outside\s+postgresql/);
    expect((await cli(['external-services', 'delete', 'outside'])).code).toBe(0);

    const metrics = await cliJson(['metrics', 'shop', '--names', 'cpu,connections']);
    expect(metrics).toMatchObject({ addonId, engine: 'postgresql' });
    expect(metrics.series.map((series: { name: string }) => series.name).sort()).toEqual([
      'connections',
      'cpu',
    ]);
    expect((await cli(['metrics', 'shop'])).stdout).toMatch(/NAME\s+LAST\s+UNIT\s+AT/);
    const events = await cliJson(['events', '--addon', 'shop', '--type', 'operation.completed']);
    expect(events.items.length).toBeGreaterThan(0);
    for (const event of events.items) expect(event).toMatchObject({ addonId, type: 'operation.completed' });
    expect((await cli(['events', '--addon', 'shop'])).stdout).toMatch(/^TIME\s+TYPE\s+ADDON\s+DETAIL/);
    // Two networking changes restart the server each: more than the default 30 s on a busy machine.
  }, 120_000);

  it('creates, lists, updates (rotating the signing secret, printed once) and deletes an alert rule', async () => {
    const created = await cli([
      'alert-rules',
      'create',
      '--name',
      'shop cpu',
      '--metric',
      'cpu',
      '--comparison',
      'at-least',
      '--threshold',
      '95',
      '--duration',
      '2m',
      '--addons',
      'shop',
      '--webhook',
      'http://127.0.0.1:9/hooks',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = /signing secret: (\S+)/.exec(created.stdout)?.[1] ?? '';
    expect(secret.length).toBeGreaterThan(20);
    expect(created.stdout).toMatch(/condition:\s+cpu >= 95 %/);
    expect(created.stdout).toMatch(/for:\s+120 s/);
    expect(created.stdout).toMatch(new RegExp(`addons:\\s+${addonId}`));
    const listed = await cli(['alert-rules', 'list']);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+CONDITION\s+FOR\s+ADDONS\s+CHANNELS\s+ENABLED\s+DEFAULT/);
    expect(listed.stdout).toMatch(/shop cpu\s+cpu >= 95 %\s+120 s/);
    expect(listed.stdout).toContain('CPU above 90 % for 10 minutes'); // a default rule
    const rule = await cliJson(['alert-rules', 'get', 'shop cpu']);
    expect(rule).toMatchObject({ metric: 'cpu', comparison: '>=', threshold: 95, addons: [addonId] });
    expect(rule.signingSecret).toBeUndefined();
    expect(Array.isArray(rule.states)).toBe(true);

    // A bad webhook URL: the API's problem, naming the field and the line, exit 3.
    const badUrl = await cli(['alert-rules', 'update', 'shop cpu', '--webhook', 'ftp://example.com/hooks']);
    expect(badUrl.code).toBe(3);
    expect(badUrl.stderr).toContain('Error: The request is not valid (HTTP 400)');
    expect(badUrl.stderr).toMatch(/ {2}- body\.channels\.webhooks\.0\.url: must be https/);

    const rotated = await cliJson([
      'alert-rules',
      'update',
      rule.id,
      '--threshold',
      '97',
      '--rotate-signing-secret',
    ]);
    expect(rotated).toMatchObject({
      threshold: 97,
      channels: { webhooks: [{ url: 'http://127.0.0.1:9/hooks' }] },
    });
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(secret);
    expect((await cli(['alert-rules', 'deliveries', 'shop cpu'])).stdout.trim()).toBe('(none)');
    expect((await cli(['alert-rules', 'delete', 'shop cpu'])).code).toBe(0);
    const after = await cliJson<{ items: { id: string }[] }>(['alert-rules', 'list']);
    expect(after.items.map((item) => item.id)).not.toContain(rule.id);
  }, 60_000);

  it('deletes the addons and exits 0 once they are gone', async () => {
    for (const name of ['second', 'shop']) {
      const deleted = await cli(['delete', name]);
      expect(deleted.code, deleted.stderr).toBe(0);
    }
    expect((await cliJson<{ items: unknown[] }>(['list'])).items).toEqual([]);
  });
});
