#!/usr/bin/env node
// `npx auralis …`: runs the TypeScript CLI through tsx, without a build step. `render`, a batch
// command whose start-up is part of its cost, runs the compiled modules of `npm run build` instead
// while they match src/ (bin/compiled-cli.mjs): the same code, without tsx's ~0.2 s of CPU.
import { pathToFileURL } from 'node:url';
import { compiledMainIfCurrent } from './compiled-cli.mjs';

const compiled = process.argv[2] === 'render' ? compiledMainIfCurrent() : null;
if (compiled !== null) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
