/**
 * The editor's build. `fluxgraph serve` builds it on demand into a cache folder (engine/server/
 * editor-assets.ts) and `fluxgraph serve --dev` serves it through vite's middleware with hot
 * reload; both put the HTTP API on the same origin, so there is no proxy to configure.
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('./editor', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  clearScreen: false,
  build: {
    outDir: fileURLToPath(new URL('./dist/editor', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
});
