import { readdirSync, readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { LOCAL_SUBSTITUTIONS } from '#infra/local/workflow-runner.ts';

const dir = new URL('../../state-machines/', import.meta.url);
const files = readdirSync(dir).filter((file) => file.endsWith('.asl.json'));

interface State {
  Type: string;
  Retry?: unknown[];
  Catch?: Array<{ Next: string }>;
  Comment?: string;
}

describe.each(files)('%s', (file) => {
  const text = readFileSync(new URL(file, dir), 'utf8');
  const definition = JSON.parse(text) as { Comment?: string; States: Record<string, State> };

  it('is valid ASL', () => {
    const { isValid, errorsText } = aslValidator(definition as never);
    expect(errorsText?.('\n') ?? '').toBe('');
    expect(isValid).toBe(true);
  });

  it('has a Comment; every Task retries, and fails into compensation, whose own failure still ends the operation', () => {
    expect(definition.Comment).toBeTruthy();
    for (const [name, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task') continue;
      expect(state.Retry, name).toBeDefined();
      const expected: Record<string, string | undefined> = {
        CompensateAndFail: 'RecordFailure',
        RecordFailure: undefined,
        FinalBackupFailed: 'RecordFinalBackupFailure',
        RecordFinalBackupFailure: undefined,
        // rotate-credentials' undo job is the start of the compensation: if it fails too, the
        // failure is recorded and the rotation stays open for its deadline.
        RunUndoJob: 'RecordFailure',
      };
      // delete-addon's final backup has a compensation of its own: it leaves the addon running.
      // provision-addon's seed steps (a fork) first discard a restore into the fork (DiscardSeed,
      // which always goes on to CompensateAndFail), so the compensation deletes all of it.
      const compensation = name.includes('Final')
        ? 'FinalBackupFailed'
        : name.includes('Seed') && name !== 'DiscardSeed' && name !== 'PlanSeed'
          ? 'DiscardSeed'
          : 'CompensateAndFail';
      // Through a Pass that sets the compensation up (update-replicas: its counter of checks), or
      // a Choice whose default is the compensation (rotate-credentials' UndoLogins: an undo job
      // first where the login job may have let a login in).
      const caught = state.Catch?.[0]?.Next;
      const setUp = caught
        ? (definition.States[caught] as { Type: string; Next?: string; Default?: string })
        : undefined;
      const target = setUp?.Type === 'Pass' ? setUp.Next : setUp?.Type === 'Choice' ? setUp.Default : caught;
      expect(target, name).toBe(name in expected ? expected[name] : compensation);
      if (name === 'DiscardSeed' || name === 'RunUndoJob')
        expect((state as { Next?: string }).Next).toBe('CompensateAndFail');
    }
  });

  it('uses only placeholders the local runner substitutes', () => {
    const placeholders = [...text.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]);
    for (const placeholder of placeholders) expect(Object.keys(LOCAL_SUBSTITUTIONS)).toContain(placeholder);
  });
});
