import { type AddonsClient, createAddonsClient } from '../client/index.ts';
import { type CliSettings, loadSettings } from './config.ts';
import { CliError, EXIT, usageError } from './exit-codes.ts';
import { createOutput, type Output } from './output.ts';

export type Values = Record<string, string | boolean | string[] | undefined>;

/** What every command gets: the client, the output, the project and the wait settings. */
export interface Context {
  api: AddonsClient;
  out: Output;
  settings: CliSettings;
  /** The project (`--project`, ADDONS_PROJECT or the config file); a usage error when none is set. */
  project(): string;
  /** False with --no-wait. */
  wait: boolean;
  timeoutMs: number | undefined;
  pollMs: number;
  /** An addon id from an id or a name of this project. */
  resolveAddon(ref: string): Promise<string>;
}

export const str = (values: Values, name: string): string | undefined => {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
};
/** A repeatable option's values (`multiple: true`), in order; empty when absent. */
export const many = (values: Values, name: string): string[] => {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
};
export const flag = (values: Values, name: string): boolean => values[name] === true;

/** A whole number option, in [min, max]. */
export const int = (
  values: Values,
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined => {
  const value = str(values, name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    throw usageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return number;
};

/** A comma-separated list option (`--hours 3,15`). */
export const list = (values: Values, name: string): string[] | undefined =>
  str(values, name)
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** One of `choices`, or undefined when the option is absent. */
export const choice = <T extends string>(
  values: Values,
  name: string,
  choices: readonly T[],
): T | undefined => {
  const value = str(values, name);
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw usageError(`--${name} must be one of ${choices.join(', ')}`);
  }
  return value as T;
};

const ADDON_ID = /^adn-[a-z0-9-]+$/;

export const createContext = (values: Values): Context => {
  const settings = loadSettings({ apiUrl: str(values, 'api-url'), project: str(values, 'project') });
  const api = createAddonsClient({ baseUrl: settings.apiUrl, token: settings.token });
  const timeout = int(values, 'timeout', 1);
  const project = () => {
    if (!settings.project) {
      throw usageError('No project: pass --project <id> or set ADDONS_PROJECT');
    }
    return settings.project;
  };
  return {
    api,
    out: createOutput(flag(values, 'json')),
    settings,
    project,
    wait: !flag(values, 'no-wait'),
    timeoutMs: timeout === undefined ? undefined : timeout * 1000,
    pollMs: Number(process.env.ADDONS_POLL_MS) > 0 ? Number(process.env.ADDONS_POLL_MS) : 1000,
    resolveAddon: async (ref) => {
      if (ADDON_ID.test(ref)) return ref;
      let cursor: string | undefined;
      do {
        const page = await api.GET('/v1/projects/{projectId}/addons', {
          params: { path: { projectId: project() }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
        });
        const found = page.items.find((addon) => addon.name === ref);
        if (found) return found.id;
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      throw new CliError(`No addon named or with id '${ref}' in project ${project()}`, EXIT.api);
    },
  };
};
