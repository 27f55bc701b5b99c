import { ProviderError } from '#shared/errors.ts';
import type { NetworkingApplied } from '#shared/ports/engine-provider.ts';
import type { NetworkingSettings } from '#shared/schemas/networking.ts';
import type { EngineDriver, InstanceContext, InstanceRecord } from './driver.ts';
import type { InstanceFiles } from './instance-files.ts';
import type { ServerProcesses } from './server-lifecycle.ts';
import { caDirOf, ensureCa } from './tls.ts';

/** The networking an instance runs with: what its record says, else private without TLS. */
export const networkingOf = (record: InstanceRecord): NetworkingSettings =>
  record.networking ?? { tls: false, public: false, allow: [] };

/** The address the server listens on: every interface only while public, else the loopback host. */
export const listenAddress = (record: InstanceRecord): string =>
  networkingOf(record).public ? '0.0.0.0' : record.host;

/** Refuses settings the engine's driver cannot honour (the catalog says so first). */
export const checkNetworking = (driver: EngineDriver, networking: NetworkingSettings): NetworkingSettings => {
  const can = driver.networking ?? { tls: false, public: false };
  if ((networking.tls && !can.tls) || (networking.public && !can.public)) {
    throw new ProviderError(
      `${driver.displayName} instances cannot ${networking.public && !can.public ? 'be public' : 'require TLS'} on the local target`,
      'Unsupported',
    );
  }
  if (networking.public && (!networking.tls || networking.allow.length === 0)) {
    throw new ProviderError('A public instance needs TLS and at least one allowed CIDR', 'InvalidNetworking');
  }
  return networking;
};

/** What the provider reports of an instance's networking: the public endpoint, the CA. */
export const networkingState = async (ctx: InstanceContext): Promise<NetworkingApplied> => {
  const { tls, public: open } = networkingOf(ctx.record);
  return {
    ...(open
      ? { publicEndpoint: { host: ctx.record.publicHost ?? ctx.record.host, port: ctx.record.port } }
      : {}),
    ...(tls ? { caCertificate: await ensureCa(caDirOf(ctx)) } : {}),
  };
};

/**
 * Apply `networking` to a ready instance (call under its lock): the record first (written
 * atomically, so a crash restarts the server with one whole set of settings), then a restart of
 * the server, which reads them (its TLS files, listen address and host rules). The restart drops
 * open connections. Idempotent.
 */
export const applyNetworking = async (
  parts: { files: InstanceFiles; servers: ServerProcesses; publicHost: string },
  driver: EngineDriver,
  ctx: InstanceContext,
  networking: NetworkingSettings,
): Promise<NetworkingApplied> => {
  checkNetworking(driver, networking);
  const record: InstanceRecord = {
    ...ctx.record,
    networking: { ...networking, allow: [...networking.allow] },
    publicHost: parts.publicHost,
  };
  await parts.files.writeRecord(ctx.resourceId, record);
  const updated = { ...ctx, record };
  await parts.servers.stopOurs(ctx.resourceId);
  await parts.servers.ensureRunning(updated, driver);
  return networkingState(updated);
};
