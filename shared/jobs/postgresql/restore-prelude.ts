/**
 * Empties the database inside the restore's transaction: every non-system schema goes (with the
 * tables, views, functions, types and extensions in it), and so do large objects, which belong to
 * no schema. `public` comes back with its owner, privileges and comment, because pg_dump treats it
 * as pre-existing and never dumps its CREATE. What the archive then creates is exactly what
 * existed at backup time, including the absence of tables created since.
 *
 * `client_min_messages = error` hides the warning about pg_restore's own BEGIN inside ours; the
 * script resets it, and the timeouts, right after.
 */
export const restorePrelude = (lockTimeoutMs: number): string => `SET client_min_messages = error;
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET lock_timeout = ${Math.max(0, Math.floor(lockTimeoutMs))};
BEGIN;
DO $addons_restore$
DECLARE
  public_owner regrole;
  public_acl aclitem[];
  public_comment text;
  schema_name name;
  privilege record;
BEGIN
  SELECT nspowner::regrole, nspacl, obj_description(oid, 'pg_namespace')
    INTO public_owner, public_acl, public_comment
    FROM pg_namespace WHERE nspname = 'public';
  FOR schema_name IN
    SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
  IF public_owner IS NOT NULL THEN
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', public_owner);
    FOR privilege IN
      SELECT grantee, privilege_type, is_grantable FROM aclexplode(public_acl)
      WHERE grantee <> public_owner::oid
    LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %s%s', privilege.privilege_type,
        CASE WHEN privilege.grantee = 0 THEN 'PUBLIC' ELSE privilege.grantee::regrole::text END,
        CASE WHEN privilege.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    EXECUTE format('COMMENT ON SCHEMA public IS %L', public_comment);
  END IF;
END
$addons_restore$;
`;
