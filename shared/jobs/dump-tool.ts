import type { Credentials } from '../schemas/addon.ts';
import type { Engine } from '../schemas/catalog.ts';
import type { Tool } from './processes.ts';

/**
 * What the generic dump and restore pipelines (dump.ts, restore.ts) need from an engine: which
 * processes to start and how to read their failures. The pipelines own streaming, compression,
 * checksums, S3, aborts and failure ranking; an engine tool owns everything that names its
 * client programs and its SQL.
 */

export interface ServerInfo {
  /** Full server version as the server reports it, e.g. `15.18`, `8.0.39`. */
  version: string;
  /** The major as the catalog names it: `15`, `10.11`, `8.0`. */
  major: string;
  /** Size of the addon's database on the server (sizes the upload parts). */
  databaseBytes: number;
}

/** One child process of the pipeline. Secrets only in env, never in args. */
export interface ToolCommand {
  tool: Tool;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface DumpCommand extends ToolCommand {
  /** First line of the tool's `--version`: recorded with the backup. */
  toolVersion: string;
}

export interface RestorePlan {
  /** The tool that reads the artifact, recorded with the restore. */
  toolVersion: string;
  /**
   * Processes between the decompressor and the loader, in order (PostgreSQL: the archive reader
   * that turns the custom-format archive into a script). Often none.
   */
  filters: ToolCommand[];
  /** Reads the script on stdin and applies it: the engine's command-line client. */
  loader: ToolCommand;
  /** Written to the loader's stdin before the script. */
  prelude?: string;
  /**
   * Hold the script's last `bytes` back until the artifact is verified and every upstream process
   * exited 0; `isComplete(tail)` must accept the tail (PostgreSQL: it holds the COMMIT).
   */
  heldTail?: {
    bytes: number;
    isComplete(tail: string): boolean;
    /** Sent after the released tail: the COMMIT of a script that has none of its own. */
    epilogue?: string;
  };
  /**
   * For a verified artifact (a recorded SHA-256), the loader may read the last filter's output
   * straight from it, without a copy through this process, when that filter cannot end the script
   * before it has read the archive's last byte (PostgreSQL: the archive reader writes the COMMIT
   * only after the custom-format archive's end). The pipeline then holds back the artifact's own last
   * bytes, not the script's, until the SHA-256 matched. `loaderArgs` replace the loader's: they
   * run the prelude, then the script read on stdin, then fail (non-zero exit, nothing committed)
   * if the script left its transaction open.
   */
  direct?: { loaderArgs: string[] };
  /** After the loader exited 0 and everything verified: make the restore visible (MySQL: swap). */
  commit?(signal?: AbortSignal): Promise<void>;
  /** Any failure before commit: remove what the restore staged (MySQL: drop staging). Never throws. */
  discard?(): Promise<void>;
  /**
   * An earlier run of the same restore (same restoreId) loaded and verified the artifact and
   * passed its point of no return before it died (MySQL: the completion marker): the pipeline
   * must not download or load anything, only call commit(), which finishes that restore.
   */
  alreadyLoaded?: boolean;
}

/**
 * What a dump file holds, detected from its contents: `pg-custom` (PostgreSQL's custom-format
 * archive), `pg-plain` (a PostgreSQL SQL script), `mysql-sql` (a MySQL SQL script).
 */
export type DumpFormat = 'pg-custom' | 'pg-plain' | 'mysql-sql';

export interface RestorePlanOptions {
  applicationName: string;
  restoreId: string;
  lockTimeoutMs: number;
  format?: DumpFormat;
}

export interface DumpTool {
  readonly engine: Engine;
  /** Asks the server its version and the database's size; a wrong password fails here. */
  inspect(connection: Credentials, applicationName: string): Promise<ServerInfo>;
  /** The dump process writing the whole database to stdout, uncompressed. */
  dumpCommand(connection: Credentials, server: ServerInfo, applicationName: string): Promise<DumpCommand>;
  /**
   * The restore of an artifact, all or nothing. `restoreId` = operation id. `format` = what the
   * artifact holds, as detected from an uploaded file's contents (DumpFormat); absent = what this
   * tool's dumps are.
   */
  prepareRestore(
    connection: Credentials,
    server: ServerInfo,
    options: RestorePlanOptions,
  ): Promise<RestorePlan>;
  /** A failed dump/loader process's message -> TransientError or ProviderError with a code. */
  classifyFailure(message: string, phase: 'dump' | 'restore'): Error;
}
