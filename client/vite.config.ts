import { defineConfig } from 'vite';

// The client folder, without Node types (this config is type-checked with the browser's tsconfig).
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

/**
 * The web player is a static bundle served by the Auralis server at `/`.
 * Nothing is loaded from a CDN: the worklet is bundled as its own file (`?worker&url`).
 */
export default defineConfig({
  root,
  base: './',
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // Keep the worklet a separate, same-origin file: AudioWorklet.addModule cannot load a data: URL everywhere.
    assetsInlineLimit: 0,
  },
  worker: { format: 'es' },
});
