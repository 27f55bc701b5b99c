#!/usr/bin/env node
// `npm start`: runs the local platform (infra/local/main.ts) from an esbuild bundle of its
// TypeScript sources, built when they changed (scripts/bundled.mjs says how and why); the npm
// packages stay in node_modules. The platform's threads (the emulators', the job processes') load
// the bundle's own files of their modules, without tsx.
import { bundledEntry } from '../../scripts/bundled.mjs';

const main = await bundledEntry({
  name: 'platform',
  entries: {
    main: 'infra/local/main.ts',
    'emulator-thread': 'infra/local/emulator-thread.ts',
    'job-processes': 'infra/local/job-processes.ts',
  },
  ownUrl: ['infra/local/emulator-thread.ts', 'infra/local/job-processes.ts'],
});
await import(main);
