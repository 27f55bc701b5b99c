import type { AddonRef } from '../ports/secret-store.ts';

/**
 * The platform's own admin login of an instance whose customer user cannot change logins for it
 * (RDS: the customer's user is the master user, and the workflow functions do not reach the
 * database): its user, and where its password is kept. The secret sits beside the addon's
 * connection details under the deployment's prefix, is never published (no API route, no secret
 * group reads it), and is deleted with the addon. The login job reads it by this reference.
 */
export const PLATFORM_LOGIN_USER = 'addons_admin';

export const platformLoginRef = (ref: AddonRef): AddonRef => ({
  projectId: ref.projectId,
  addonId: `${ref.addonId}/platform-login`,
});
