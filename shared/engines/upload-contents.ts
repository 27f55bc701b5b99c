/**
 * What an uploaded dump holds, judged from its first (decompressed) bytes: each engine with dump
 * imports says which of its formats the bytes are, or why they are none (another engine's dump,
 * a binary file). Detection is by content, never by file name.
 */
export type UploadVerdict =
  | { ok: true; format: 'pg-custom' | 'pg-plain' | 'mysql-sql' }
  | { ok: false; reason: string };

/** Bytes that are not text: a NUL, or a control character no SQL script holds. */
export const looksBinary = (head: Buffer): boolean => {
  const sample = head.subarray(0, 4096);
  for (const byte of sample) {
    if (byte === 0 || (byte < 32 && byte !== 9 && byte !== 10 && byte !== 13 && byte !== 12)) return true;
  }
  return false;
};

/** The leading comment lines of a script, where dump tools name themselves. */
export const scriptHeader = (head: Buffer): string => head.subarray(0, 8192).toString('utf8');
