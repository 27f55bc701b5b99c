import { errorMessage } from '../errors.ts';

/**
 * Provider error text says more than a user should read: ARNs carry the account id, RDS
 * endpoints and EC2 names are internal hostnames, and the text is the provider's, not ours.
 * Everything that shows an error to a user (an operation's `error`, a problem's `detail`)
 * passes through here; the unredacted text stays in the logs.
 */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\barn:aws[a-z-]*:[^\s"'`,;()[\]{}<>]+/gi, '<aws-resource>'],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, '<access-key>'],
  [/\b(?:[a-z0-9-]+\.)+amazonaws\.com(?:\.cn)?\b/gi, '<aws-host>'],
  [/\b(?:[a-z0-9-]+\.)+internal\b/gi, '<internal-host>'],
  [/\b(?:10|172\.(?:1[6-9]|2\d|3[01])|192\.168)(?:\.\d{1,3}){2,3}\b/g, '<private-address>'],
  [/\b(?:vpc|subnet|sg|eni|vpce|rtb|igw|nat|i)-[0-9a-f]{8,17}\b/g, '<aws-id>'],
  [/\b\d{12}\b/g, '<account>'],
];

/** Long enough for a useful reason, short enough that a dumped stack or response is cut. */
const MAX_LENGTH = 1000;

export const redactProviderText = (text: string): string => {
  let redacted = text;
  for (const [pattern, replacement] of RULES) redacted = redacted.replace(pattern, replacement);
  return redacted.length > MAX_LENGTH ? `${redacted.slice(0, MAX_LENGTH - 1)}…` : redacted;
};

/** An error's message as a user may read it (an operation's reason when a start failed). */
export const userFacingMessage = (error: unknown): string => redactProviderText(errorMessage(error));
