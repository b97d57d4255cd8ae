#!/usr/bin/env node
// Runs the compiled CLI (dist/lib, built by `npm install` through the prepare script, or `npm run build`).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/lib/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('fluxgraph: the CLI is not built (dist/lib is missing): run npm install, or npm run build in a checkout\n');
  process.exit(1);
}
await import(cli.href);
