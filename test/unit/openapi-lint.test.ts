import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '#shared/api/openapi.ts';

interface Finding {
  code: string;
  message: string;
  path: string[];
  severity: number;
}

const ROOT = new URL('../..', import.meta.url).pathname;
const SPECTRAL = join(ROOT, 'node_modules', '.bin', 'spectral');
const ERROR = 0;

/** Spectral's CLI with the project's ruleset (.spectral.yaml) on a document; its JSON findings. */
const lint = async (document: unknown): Promise<Finding[]> => {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    const args = ['lint', file, '--ruleset', join(ROOT, '.spectral.yaml'), '--format', 'json', '--quiet'];
    // The CLI exits non-zero when it finds errors; its findings are on stdout either way.
    const { stdout } = await promisify(execFile)(SPECTRAL, args, { cwd: ROOT }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        if (!error.stdout?.trim().startsWith('[')) throw new Error(`spectral failed: ${error.stderr}`);
        return { stdout: error.stdout };
      },
    );
    return JSON.parse(stdout) as Finding[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const describeFinding = (finding: Finding) =>
  `${finding.code} at ${finding.path.join('.')}: ${finding.message}`;

describe('OpenAPI lint (spectral:oas + OWASP API Security ruleset)', () => {
  it('finds no error in the generated document', async () => {
    const findings = await lint(buildOpenApiDocument());

    const errors = findings.filter((finding) => finding.severity === ERROR).map(describeFinding);
    expect(errors).toEqual([]);
  }, 60_000);

  it('would fail on an unbounded string: the check is live', async () => {
    const document = structuredClone(buildOpenApiDocument());
    const addon = document.components?.schemas?.Addon as { properties: Record<string, unknown> };
    addon.properties.name = { type: 'string' };

    const findings = await lint(document);

    const codes = findings.filter((finding) => finding.severity === ERROR).map((finding) => finding.code);
    expect(codes).toContain('owasp:api4:2023-string-limit');
  }, 60_000);
});
