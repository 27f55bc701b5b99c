import { createAddonsApp } from './addons-app.ts';

// `npx cdk synth|deploy` runs this file (cdk.json); tests build the same app with createAddonsApp.
createAddonsApp().app.synth();
