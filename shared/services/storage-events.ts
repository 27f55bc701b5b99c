import type { PlatformEvent } from '../schemas/event.ts';

/**
 * The event of an addon turning read-only because its storage is full, or writable again (the
 * local target's storage guard, docs/scaling.md). Its id is stable for that change:
 * `{addonId}.storage.{full|writable}.{epoch ms}`.
 */
export const storageEvent = (
  addon: { projectId: string; id: string },
  change: { readOnly: boolean; usedBytes: number; allocatedBytes: number },
  at: Date,
): PlatformEvent => {
  const kind = change.readOnly ? 'full' : 'writable';
  return {
    id: `${addon.id}.storage.${kind}.${at.getTime()}`,
    type: `storage.${kind}`,
    projectId: addon.projectId,
    addonId: addon.id,
    occurredAt: at.toISOString(),
    operation: null,
    backupHealth: null,
    storage: {
      usedBytes: change.usedBytes,
      allocatedBytes: change.allocatedBytes,
      readOnly: change.readOnly,
    },
  };
};
