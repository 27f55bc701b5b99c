#!/usr/bin/env node
// `npm start`: runs the local platform (infra/local/main.ts) from an esbuild bundle of its
// TypeScript sources, built when they changed (scripts/bundled.mjs says how and why); the npm
// packages stay in node_modules. The emulator threads load the bundle's own emulator-thread file,
// without tsx.
import { bundledEntry } from '../../scripts/bundled.mjs';

const main = await bundledEntry({
  name: 'platform',
  entries: { main: 'infra/local/main.ts', 'emulator-thread': 'infra/local/emulator-thread.ts' },
  ownUrl: ['infra/local/emulator-thread.ts'],
});
await import(main);
