import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest test files first, from `test/durations.json` (milliseconds per `project:file`, as a full
 * run measured them: `npm run test:durations` writes it from vitest's own results cache). On a
 * fresh clone vitest has no cache and would start files in an arbitrary order, so a 5-minute file
 * started last leaves one of the two workers idle for minutes at the end of CI. A file not listed
 * counts as a typical one (10 s).
 */
export const DURATIONS_FILE = path.resolve(import.meta.dirname, 'durations.json');
const TYPICAL_MS = 10_000;

const keyOf = (spec: TestSpecification, root: string): string =>
  `${spec.project.name}:${path.relative(root, spec.moduleId)}`;

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const durations: Record<string, number> = existsSync(DURATIONS_FILE)
      ? JSON.parse(readFileSync(DURATIONS_FILE, 'utf8'))
      : {};
    const root = this.ctx.config.root;
    const expected = (spec: TestSpecification) => durations[keyOf(spec, root)] ?? TYPICAL_MS;
    // As vitest's own: group order, then project by project (a worker without isolation keeps
    // serving one project's files: the infra files share one synthesized stack), then longest first.
    return [...files].sort(
      (a, b) =>
        a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder ||
        a.project.name.localeCompare(b.project.name) ||
        expected(b) - expected(a),
    );
  }
}
