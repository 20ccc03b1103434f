#!/usr/bin/env node
// `npx auralis …`: runs the TypeScript CLI through tsx without a build step.
import { register } from 'tsx/esm/api';
register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
