import { describe, expect, it } from 'vitest';
import type { AlertAlarms } from '#shared/ports/alert-alarms.ts';
import { AlertSweep, RECENT_CHANGE_MS } from '#shared/services/alert-alarm-sync.ts';
import type { AddonRecord } from '#shared/store/addon-store.ts';
import type { AlertRuleRecord } from '#shared/store/alert-store.ts';
import { addonRecord } from '../support/fixtures.ts';

/**
 * The AWS reconciler's alert sweep: every 5-minute run syncs the rules of projects with an addon
 * changed lately (a new addon of an "all" rule gets its alarm within a run, not at the hourly
 * sync), the hourly run every rule; defaults reach the projects it looks at.
 */
const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const ruleOf = (id: string, projectId: string): AlertRuleRecord => ({
  id,
  projectId,
  name: id,
  metric: 'cpu',
  unit: 'percent',
  comparison: '>',
  threshold: 90,
  durationSeconds: 600,
  addons: 'all',
  channels: { webhooks: [], emails: [] },
  enabled: true,
  isDefault: false,
  signingSecret: 'whsec_x',
  signingSecretCreatedAt: iso(NOW),
  createdAt: iso(NOW),
  updatedAt: iso(NOW),
  revision: 1,
});

const sweepOver = (addons: AddonRecord[], rules: AlertRuleRecord[]) => {
  const synced: Array<{ rule: string; addons: string[] }> = [];
  const defaults: string[] = [];
  const alarms: AlertAlarms = {
    sync: async (rule, covered) =>
      void synced.push({ rule: rule.id, addons: covered.map((addon) => addon.id) }),
    remove: async () => undefined,
  };
  const sweep = new AlertSweep({
    alerts: { scanRules: async () => rules },
    addons: { scanAddons: async () => addons },
    rules: {
      ensureDefaults: async (projectId) => {
        defaults.push(projectId);
        return [];
      },
      coveredAddons: async (rule, all) =>
        (all ?? []).filter((addon) => addon.projectId === rule.projectId && addon.status === 'running'),
    },
    alarms,
    notifier: { repair: async () => 0 },
    dispatcher: { run: async () => ({ delivered: [], retrying: [], failed: [] }) },
    now: () => new Date(NOW),
  });
  return { sweep, synced, defaults };
};

describe('the alert sweep on AWS', () => {
  const fresh = addonRecord({
    id: 'adn-new',
    projectId: 'shop',
    status: 'running',
    updatedAt: iso(NOW - 60_000),
  });
  const old = addonRecord({
    id: 'adn-old',
    projectId: 'books',
    status: 'running',
    updatedAt: iso(NOW - RECENT_CHANGE_MS - 60_000),
  });
  const rules = [ruleOf('alr-shop', 'shop'), ruleOf('alr-books', 'books'), ruleOf('alr-empty', 'empty')];

  it('syncs, every run, the rules of a project whose addon just changed: a new addon gets its alarm', async () => {
    const { sweep, synced, defaults } = sweepOver([fresh, old], rules);
    const summary = await sweep.run({ alarms: false });
    expect(synced).toEqual([{ rule: 'alr-shop', addons: ['adn-new'] }]);
    expect(summary.synced).toEqual(['alr-shop']);
    expect(defaults).toEqual(['shop']);
  });

  it('syncs every rule in the hourly run, a project without addons too (its stale alarms go)', async () => {
    const { sweep, synced, defaults } = sweepOver([fresh, old], rules);
    await sweep.run({ alarms: true });
    expect(synced).toEqual([
      { rule: 'alr-shop', addons: ['adn-new'] },
      { rule: 'alr-books', addons: ['adn-old'] },
      { rule: 'alr-empty', addons: [] },
    ]);
    expect(defaults.sort()).toEqual(['books', 'shop']);
  });
});
