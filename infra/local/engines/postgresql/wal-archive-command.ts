import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createJobS3Client } from '#shared/jobs/s3-client.ts';

/**
 * PostgreSQL's `archive_command` on the local target, run by the server (as the instance's engine
 * user) once per completed WAL segment or timeline history file:
 *
 *   nice -n 10 node <wal-archive-command bundled, or --import tsx wal-archive-command.ts> <s3 endpoint> <bucket> <key prefix> <pg_waldump|-> %p %f
 *
 * below the platform's and the customers' CPU priority, as the platform's other background work
 * (under Linux autogroup it counts in the archiver's session, which job-sessions.ts lowers).
 * It exits 0 only once the object store acknowledged the file (or already holds the very same
 * bytes: a retry after a crash between the upload and PostgreSQL's bookkeeping). Any failure exits
 * non-zero with the reason on stderr (the instance's server.log): PostgreSQL keeps the segment in
 * pg_wal and retries, so nothing is lost while the object store is down.
 *
 * Each segment's object carries, as metadata, the time of the last commit or abort record in it
 * (`last-commit`, from pg_waldump): a recovery to a time stops at the first such record after it,
 * so that is what bounds the restorable window's end.
 */

const [endpoint, bucket, prefix, waldump, walPath, walName] = process.argv.slice(2);

const WAL_SEGMENT = /^[0-9A-F]{24}$/;
/** pg_waldump's description of a transaction's end, with TZ=UTC: "COMMIT 2026-12-01 00:15:02.123456 UTC". */
const XACT_END = /desc: (?:COMMIT|ABORT)(?:_PREPARED)? .*?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/g;

/** The last commit or abort time recorded in a segment, as ISO 8601 with microseconds, or ''. */
const lastTransactionEnd = (file: string): Promise<string> =>
  new Promise((resolve) => {
    if (!waldump || waldump === '-') return resolve('');
    // pg_waldump stops with an error at the record that continues into the next segment: what it
    // printed before that is still every record of this one.
    execFile(
      waldump,
      ['--rmgr=Transaction', file],
      { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 256 * 1024 * 1024 },
      (_error, stdout) => {
        let last = '';
        for (const match of stdout.matchAll(XACT_END)) {
          const [date, time] = (match[1] as string).split(' ') as [string, string];
          const [whole, fraction = ''] = time.split('.');
          const iso = `${date}T${whole}.${fraction.padEnd(6, '0')}Z`;
          if (iso > last) last = iso;
        }
        resolve(last);
      },
    );
  });

const main = async (): Promise<void> => {
  if (!endpoint || !bucket || prefix === undefined || !walPath || !walName) {
    throw new Error('usage: wal-archive-command <endpoint> <bucket> <prefix> <pg_waldump|-> <path> <name>');
  }
  const body = await readFile(walPath);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const client = createJobS3Client(endpoint);
  const Key = `${prefix}${walName}`;
  const existing = await client
    .send(new HeadObjectCommand({ Bucket: bucket, Key }))
    .catch((error: unknown) => {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
        return undefined;
      throw error;
    });
  if (existing) {
    if (existing.Metadata?.sha256 === sha256) return;
    throw new Error(`s3://${bucket}/${Key} already holds different content; refusing to overwrite it`);
  }
  const lastCommit = WAL_SEGMENT.test(walName) ? await lastTransactionEnd(walPath) : '';
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key,
      Body: body,
      ContentLength: body.length,
      Metadata: { sha256, 'last-commit': lastCommit },
    }),
  );
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `addons wal archive: archiving ${walName} failed, PostgreSQL will retry: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
