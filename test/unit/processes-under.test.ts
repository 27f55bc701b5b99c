import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processesUnder } from '#infra/local/engines/system.ts';

/**
 * processesUnder finds what a killed platform left at work in a directory: by working directory,
 * and by an argument naming a path there (a tool that moved elsewhere once started, as
 * mariadb-backup --backup does, still writes into its --target-dir).
 */
describe('processesUnder', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });
  /** A process that waits, with `args` on its command line and `cwd` as working directory. */
  const waiting = (args: string[], cwd: string) => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', ...args], {
      cwd,
      stdio: 'ignore',
    });
    children.push(child);
    return child.pid as number;
  };

  it('finds a process by its working directory or by an argument inside the directory, not a neighbour', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'processes-under-'));
    const dir = path.join(root, 'replicas', '3');
    const neighbour = path.join(root, 'replicas', '30');
    await fs.mkdir(path.join(dir, 'data'), { recursive: true });
    await fs.mkdir(neighbour, { recursive: true });
    const byCwd = waiting([], path.join(dir, 'data'));
    const byArg = waiting(['--backup', `--target-dir=${dir}/data`], root);
    const other = waiting([`--target-dir=${neighbour}`], neighbour);

    const found = await processesUnder(dir);
    expect(found).toContain(byCwd);
    expect(found).toContain(byArg);
    expect(found).not.toContain(other);
    expect(found).not.toContain(process.pid);
    await fs.rm(root, { recursive: true, force: true });
  });
});
