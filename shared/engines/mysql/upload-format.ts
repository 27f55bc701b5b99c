import { looksLikePostgresDump } from '../postgresql/upload-format.ts';
import { looksBinary, scriptHeader, type UploadVerdict } from '../upload-contents.ts';

/** A MySQL-family dump: its tool's header comment, or its versioned comments and table options. */
export const looksLikeMysqlDump = (text: string): boolean =>
  /^-- (MySQL|MariaDB) dump/im.test(text) || /^\/\*!\d{5} SET /m.test(text) || /ENGINE=\w+/.test(text);

/** MySQL takes SQL scripts (what its dump tool writes); a PostgreSQL dump or a binary file is refused. */
export const mysqlUploadFormat = (head: Buffer): UploadVerdict => {
  if (head.length === 0) return { ok: false, reason: 'the file is empty' };
  const text = scriptHeader(head);
  if (looksLikePostgresDump(head, text)) {
    return { ok: false, reason: 'the file is a PostgreSQL dump, which a MySQL addon cannot load' };
  }
  if (looksBinary(head)) {
    return { ok: false, reason: 'the file is not an SQL script (it holds binary data)' };
  }
  return { ok: true, format: 'mysql-sql' };
};
