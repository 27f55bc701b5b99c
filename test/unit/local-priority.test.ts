import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLogged } from '#infra/local/engines/system.ts';
import { BACKGROUND_NICENESS, niced } from '#infra/local/priority.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the CPU priority of the local platform’s background work', () => {
  it('a tool run through runLogged runs below the platform (coreutils nice with no command prints its niceness)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'addons-priority-'));
    dirs.push(dir);
    const logFile = join(dir, 'tool.log');
    await runLogged('nice', [], { runAs: undefined, env: process.env, cwd: dir, logFile, what: 'nice' });
    expect(BACKGROUND_NICENESS).toBeGreaterThan(0);
    // nice adds to the caller's niceness (this process's, 0 unless the tests run niced), up to 19.
    expect((await readFile(logFile, 'utf8')).trim()).toBe(
      String(Math.min(19, getPriority() + BACKGROUND_NICENESS)),
    );
  });

  it('niced starts the command through nice in the same process, and leaves it alone at 0', () => {
    expect(niced(10, '/usr/bin/node', ['job.mjs'])).toEqual({
      command: expect.stringMatching(/\/nice$/),
      args: ['-n', '10', '/usr/bin/node', 'job.mjs'],
    });
    expect(niced(0, '/usr/bin/node', ['job.mjs'])).toEqual({ command: '/usr/bin/node', args: ['job.mjs'] });
  });
});
