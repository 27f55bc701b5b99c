import { errorMessage, ProviderError } from '#shared/errors.ts';

/**
 * Runs a driver's `settleAccess` work: a ProviderError it throws (a refused platform user) stands,
 * anything else becomes `RolesNotSettled` saying which of the instance's `what` (users, roles,
 * accounts) could not be settled, so the supervisor reports every engine's failure alike.
 */
export const settlingAccess = async (what: string, work: () => Promise<unknown>): Promise<void> => {
  try {
    await work();
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError(
      `Could not settle the ${what} of this instance: ${errorMessage(error)}`,
      'RolesNotSettled',
    );
  }
};
