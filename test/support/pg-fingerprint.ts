import pg from 'pg';

/** One statement on a fresh connection to `uri`, its rows. */
export const pgQuery = async (uri: string, text: string) => {
  const connection = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 5_000 });
  await connection.connect();
  try {
    return (await connection.query(text)).rows;
  } finally {
    await connection.end();
  }
};

/** Each table of the public schema with a checksum of its rows: equal fingerprints, equal data. */
export const pgFingerprint = async (uri: string): Promise<Record<string, string>> => {
  const tables = (
    await pgQuery(uri, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
  ).map((row) => row.tablename as string);
  const sums: Record<string, string> = {};
  for (const table of tables) {
    const [row] = await pgQuery(
      uri,
      `SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM "${table}" t`,
    );
    sums[table] = row?.sum;
  }
  return sums;
};
