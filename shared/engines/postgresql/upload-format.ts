import { looksLikeMysqlDump } from '../mysql/upload-format.ts';
import { looksBinary, scriptHeader, type UploadVerdict } from '../upload-contents.ts';

/** A PostgreSQL dump: a custom-format archive's magic, or a script's header and catalog calls. */
export const looksLikePostgresDump = (head: Buffer, text: string): boolean =>
  head.subarray(0, 5).toString('latin1') === 'PGDMP' ||
  /^-- PostgreSQL database dump/m.test(text) ||
  /pg_catalog\.set_config/.test(text);

/**
 * PostgreSQL takes its custom-format archive (`PGDMP` magic, restored through the archive reader)
 * and SQL scripts (plain-format dumps, run as one transaction). A MySQL dump or a binary file is
 * refused before the addon is touched.
 */
export const postgresUploadFormat = (head: Buffer): UploadVerdict => {
  if (head.length === 0) return { ok: false, reason: 'the file is empty' };
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return { ok: true, format: 'pg-custom' };
  if (looksBinary(head)) {
    return {
      ok: false,
      reason:
        'the file is neither a PostgreSQL custom-format archive nor an SQL script (it holds binary data)',
    };
  }
  const text = scriptHeader(head);
  if (looksLikeMysqlDump(text)) {
    return { ok: false, reason: 'the file is a MySQL dump, which a PostgreSQL addon cannot load' };
  }
  return { ok: true, format: 'pg-plain' };
};
