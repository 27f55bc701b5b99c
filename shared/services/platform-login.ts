import type { AddonRef, ConnectionSecret, SecretStore } from '../ports/secret-store.ts';
import { generatePassword, withFreshUris } from './credentials.ts';

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

/**
 * The platform's admin login of the addon, recorded with a password of its own the first time
 * (the endpoint of `published`); the login job makes it in the instance. Kept once recorded.
 */
export const recordPlatformLogin = async (
  secrets: SecretStore,
  ref: AddonRef,
  published: ConnectionSecret,
): Promise<void> => {
  const adminRef = platformLoginRef(ref);
  if (await secrets.get(adminRef)) return;
  const { uri: _uri, ...rest } = {
    ...published,
    username: PLATFORM_LOGIN_USER,
    password: generatePassword(),
  };
  await secrets.put(adminRef, withFreshUris(rest));
};
