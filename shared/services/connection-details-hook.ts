import { type AddonRef, canStage, type SecretStore } from '../ports/secret-store.ts';

/** Called once an addon's (or external service's) published connection details have changed. */
export type ConnectionDetailsChanged = (ref: AddonRef) => Promise<unknown>;

/**
 * The one hook point for "an addon's published connection details changed". Every feature that
 * changes them (provisioning, credential rotation, restore-and-swap, and later scaling, public
 * exposure, upgrades) writes them through the secret store's `put`; wrapping the store at the
 * composition root runs `changed` after each write, so a new feature is covered by writing the
 * details as the others do, with nothing else to remember.
 *
 * The write of the details is what counts: a failure of `changed` is reported to `onError` and
 * not thrown, since the details are already published and the operation that wrote them must not
 * fail for it. What `changed` missed (that failure, or a crash between the two) is repaired by
 * the secret groups' sweep, which compares each group's document with its sources.
 */
export const withConnectionDetailsHook = (
  store: SecretStore,
  changed: ConnectionDetailsChanged,
  onError: (error: unknown, ref: AddonRef) => void,
): SecretStore => ({
  put: async (ref, secret) => {
    await store.put(ref, secret);
    try {
      await changed(ref);
    } catch (error) {
      onError(error, ref);
    }
  },
  get: (ref) => store.get(ref),
  delete: (ref) => store.delete(ref),
  // Staged details are not published until promoted: only `promote` changes what groups show.
  ...(canStage(store)
    ? {
        stage: (ref, secret, token) => store.stage(ref, secret, token),
        staged: (ref, token) => store.staged(ref, token),
        discard: (ref, token) => store.discard(ref, token),
        promote: async (ref, token) => {
          await store.promote(ref, token);
          try {
            await changed(ref);
          } catch (error) {
            onError(error, ref);
          }
        },
      }
    : {}),
});
