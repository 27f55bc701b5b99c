#!/usr/bin/env node
// `addons`: the CLI's entry point. It runs the TypeScript sources through tsx (a dependency of the
// project), so a fresh clone works after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
