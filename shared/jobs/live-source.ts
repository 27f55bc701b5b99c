import type { Credentials } from '../schemas/addon.ts';
import type { DumpCommand, ServerInfo } from './dump-tool.ts';

/**
 * What a live import needs from an engine to read a database outside the platform: its version
 * (the source must not be newer than the addon) and the dump process streaming it, uncompressed,
 * in the format the engine's restore plan reads (dump-tool.ts `prepareRestore`).
 *
 * Unlike the addon's own connections, the source's TLS follows its connection string only
 * (`tls`: encrypted, not verified; there is no CA bundle for an arbitrary server): the job
 * environment's verify settings (the RDS CA bundle) are for the addons, not for the source.
 */
export interface LiveSourceTool {
  /** Connects as the source's user; refused credentials or a missing database fail here. */
  inspect(source: Credentials): Promise<ServerInfo>;
  /** The dump of the source database to stdout, with the password in env only. */
  dumpCommand(source: Credentials, server: ServerInfo): Promise<DumpCommand>;
  /** Whether a source of this version may load into the addon's server (not newer). */
  loadsInto(source: ServerInfo, addon: ServerInfo): boolean;
}

/**
 * Whether a source of `sourceMajor` loads into an addon of `addonMajor`: not newer, compared
 * number by number (`15` vs `16`, `10.6` vs `10.11`, `8.0` vs `8.4`).
 */
export const majorNotNewer = (sourceMajor: string, addonMajor: string): boolean => {
  const source = sourceMajor.split('.').map(Number);
  const addon = addonMajor.split('.').map(Number);
  for (let index = 0; index < Math.max(source.length, addon.length); index++) {
    const a = source[index] ?? 0;
    const b = addon[index] ?? 0;
    if (a !== b) return a < b;
  }
  return true;
};
