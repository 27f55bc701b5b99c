import type { FieldIssue } from '#shared/errors.ts';
import { UnsupportedError } from '#shared/errors.ts';
import type { InstanceSpec } from '#shared/ports/engine-provider.ts';

/**
 * The checks every local engine driver makes of an instance spec, so each driver's
 * `checkSupported` adds only its own naming rules between them.
 */

/**
 * The one major the local engine runs, and what the local target does not offer: public access at
 * create (it comes with PATCH networking), and TLS and replicas but where the driver has them.
 */
export const localTargetIssues = (
  spec: InstanceSpec,
  major: string,
  versionMessage: string,
  offers: { tls?: boolean; replicas?: boolean } = {},
): FieldIssue[] => {
  const issues: FieldIssue[] = [];
  if (spec.version !== major && !spec.version.startsWith(`${major}.`)) {
    issues.push({ path: 'version', message: versionMessage });
  }
  if (spec.tls && !offers.tls)
    issues.push({ path: 'tls', message: 'TLS is not available on the local target' });
  if (spec.replicas > 0 && !offers.replicas)
    issues.push({
      path: 'replicas',
      message: 'replicas are not available for this engine on the local target',
    });
  if (spec.publicAccess) {
    issues.push({ path: 'publicAccess', message: 'local addons listen on the loopback interface only' });
  }
  return issues;
};

/** The password reaches the engine in a line of SQL or a file: `forbidden` are the characters it cannot carry. */
export const passwordIssues = (spec: InstanceSpec, forbidden: RegExp): FieldIssue[] =>
  forbidden.test(spec.password) || spec.password.length === 0
    ? [{ path: 'password', message: 'the password must be a non-empty single line' }]
    : [];

/** Throws an UnsupportedError listing every issue, when there is any. */
export const rejectIssues = (engineName: string, issues: FieldIssue[]): void => {
  if (issues.length > 0) {
    throw new UnsupportedError(
      `This ${engineName} instance cannot be created locally: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
      issues,
    );
  }
};

/**
 * A user or database name's issue, if any: one the engine reserves, or one outside the engine's
 * `pattern` and `max` length (`allowed` words the pattern for the message, e.g. "letters, digits
 * or underscores").
 */
export const nameFieldIssues = (
  field: 'username' | 'database',
  value: string,
  rule: { reserved: boolean; pattern: RegExp; max: number; allowed: string },
): FieldIssue[] => {
  if (rule.reserved) return [{ path: field, message: `'${value}' is reserved` }];
  if (!rule.pattern.test(value) || value.length > rule.max) {
    const noun = field === 'username' ? 'user name' : 'database name';
    return [{ path: field, message: `a ${noun} is 1 to ${rule.max} ${rule.allowed}` }];
  }
  return [];
};
