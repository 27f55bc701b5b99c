import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `cli/bin.js` (what `npx addons` starts) runs the CLI from an esbuild bundle in .build/, built by
 * the first call after a source changed and reused by the next (scripts/bundled.mjs), not through
 * tsx on every call: about 0.4 s a call instead of 1.0 s, and test/e2e/cli.test.ts makes about 70.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POINTER = join(ROOT, '.build/cli.json');

const help = () =>
  new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/bin.js'), '--help'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.once('close', (code) => resolve({ code, stdout }));
  });

describe('cli/bin.js', () => {
  it('runs the CLI from a bundle of its sources, built once and reused while none changed', async () => {
    const first = await help();
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Usage: addons <command>/);
    const pointer = JSON.parse(readFileSync(POINTER, 'utf8')) as { dir: string; inputs: object };
    expect(Object.keys(pointer.inputs)).toEqual(expect.arrayContaining(['cli/main.ts', 'client/index.ts']));
    const bundle = join(ROOT, '.build', pointer.dir, 'main.mjs');
    expect(existsSync(bundle)).toBe(true);
    const built = statSync(bundle).mtimeMs;

    const second = await help();
    expect(second).toEqual(first);
    expect((JSON.parse(readFileSync(POINTER, 'utf8')) as { dir: string }).dir).toBe(pointer.dir);
    expect(statSync(bundle).mtimeMs).toBe(built);
  });
});
