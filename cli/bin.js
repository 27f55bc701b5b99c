#!/usr/bin/env node
// `addons`: the CLI's entry point. It runs the CLI from an esbuild bundle of its TypeScript
// sources in .build/, built by the first call after a source changed (scripts/bundled.mjs): about
// 0.4 s and 0.23 s of CPU a call instead of 1.0 s and 0.75 s through tsx (load 4, 2 cores). esbuild
// comes with tsx, a dependency, so a fresh clone needs no build step after `npm install`. Where it
// cannot build (a checkout it cannot write to) it runs the sources through tsx, as it used to.
import { bundledEntry } from '../scripts/bundled.mjs';

const bundled = await bundledEntry({ name: 'cli', entries: { main: 'cli/main.ts' } }).catch(() => undefined);
if (bundled) {
  await import(bundled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
