import '#shared/util/polyfills.ts';
