/**
 * `fluxgraph serve`: the editor and its API on http://127.0.0.1. Builds the editor on first use
 * (see engine/server/editor-assets.ts); `--dev` serves it with hot reload instead.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isEngineError } from '../core/errors';
import { isInside } from '../server/documents';
import { DEFAULT_PORT, startServer } from '../server/server';

const USAGE = `Usage: fluxgraph serve [pipeline.json] [--port N] [--open] [--dev] [--out DIR] [--cache-dir DIR] [--base-dir DIR] [--host ADDR]

  pipeline.json    open this pipeline in the editor (its relative paths resolve against its folder)

  --port N         port on 127.0.0.1 (default ${DEFAULT_PORT}, or the next free one)
  --open           open the editor in the default browser
  --dev            serve the editor's sources with hot reload (vite middleware)
  --out DIR        where save-image writes files (default ./out)
  --cache-dir DIR  artifact store, thumbnails and run history (default ./.fluxgraph)
  --base-dir DIR   the folder the editor opens and saves pipelines in, and where uploaded reference
                   images go (default: ., or the pipeline's folder when it is outside .)
  --host ADDR      interface to listen on (default 127.0.0.1; anything else is reachable by others,
                   and then needs access tokens and TLS)
  --tls-cert FILE  serve https with this certificate (PEM) ...
  --tls-key FILE   ... and its private key (PEM)
  --behind-proxy   a TLS-terminating proxy is in front: access tokens are required, cookies are Secure
  --public-host NAME  a name the server is reached by (Host and Origin checks), repeatable
  --queue          team mode: runs go to the shared queue (FLUXGRAPH_REDIS_URL), run by workers;
                   the Postgres ledger (FLUXGRAPH_DATABASE_URL) and the shared store (FLUXGRAPH_STORE)
                   replace the local ones, and the live view survives a restart of this server

Off loopback (or behind a proxy) every person signs in with an access token: make them with
fluxgraph token add NAME [--team T] [--admin].

Keys stay in this process (environment or ./.env); the browser never sees them.`;

/** Opens the editor in the default browser; where there is none (a server, SSH, CI), says where to point one. */
function openBrowser(url: string): void {
  const noBrowser = (why: string) => void process.stderr.write(`No browser to open (${why}): point one at ${url}\n`);
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return noBrowser('no display');
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => noBrowser(`${cmd} not found`));
    child.on('exit', (code) => code !== 0 && code !== null && noBrowser(`${cmd} exited with ${code}`));
    child.unref();
  } catch {
    noBrowser(`${cmd} could not start`);
  }
}

export async function runServeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      open: { type: 'boolean' },
      dev: { type: 'boolean' },
      out: { type: 'string' },
      'cache-dir': { type: 'string' },
      'base-dir': { type: 'string' },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'behind-proxy': { type: 'boolean' },
      'public-host': { type: 'string', multiple: true },
      queue: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`fluxgraph: --port ${values.port}: expected a port number (0-65535)\n`);
      return 2;
    }
  }
  if (positionals.length > 1) {
    process.stderr.write(`fluxgraph: serve opens one pipeline file; got ${positionals.length}: ${positionals.join(' ')}\n`);
    return 2;
  }
  const file = positionals[0];
  if (file !== undefined && !existsSync(file)) {
    process.stderr.write(`fluxgraph: ${file}: no such file\n`);
    return 2;
  }
  // A pipeline outside the working folder: its own folder is the base folder, unless one is given.
  const baseDir = values['base-dir'] ?? (file && !isInside(resolve('.'), resolve(file)) ? dirname(resolve(file)) : undefined);
  if (file && values['base-dir'] && !isInside(resolve(values['base-dir']), resolve(file))) {
    process.stderr.write(`fluxgraph: ${file} is outside --base-dir ${values['base-dir']}\n`);
    return 2;
  }
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    process.stderr.write(`fluxgraph: --tls-cert and --tls-key go together (the certificate and its private key)\n`);
    return 2;
  }
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (values['tls-cert'] && values['tls-key']) {
    try {
      tls = { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) };
    } catch (e) {
      process.stderr.write(`fluxgraph: could not read the TLS files: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let server;
  try {
    server = await startServer({
      ...(port !== undefined ? { port } : {}),
      ...(values.host ? { host: values.host } : {}),
      ...(tls ? { tls } : {}),
      ...(values['behind-proxy'] ? { behindProxy: true } : {}),
      ...(values['public-host']?.length ? { publicHosts: values['public-host'] } : {}),
      ...(values.out ? { outDir: values.out } : {}),
      ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
      ...(baseDir ? { baseDir } : {}),
      ...(file ? { open: file } : {}),
      ...(values.queue ? { queue: true } : {}),
      editor: values.dev ? 'dev' : 'build',
      log,
    });
  } catch (e) {
    // A port already taken, a cache folder that is a file, a damaged ledger: the user's to fix, like a bad flag (exit 2).
    const inUse = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
    // A bad certificate or key is the user's to fix too.
    const badTls = /PEM|certificate|key values mismatch|ERR_OSSL/i.test(String((e as Error).message)) || /^ERR_OSSL/.test(String((e as NodeJS.ErrnoException).code ?? ''));
    const usage = inUse || isEngineError(e) || badTls;
    process.stderr.write(`fluxgraph: ${usage ? '' : 'could not start the editor server: '}${(e as Error).message}\n`);
    return usage ? 2 : 1;
  }
  process.stdout.write(`fluxgraph editor: ${server.url}${values.dev ? ' (dev, hot reload)' : ''}${file ? `, opening ${file}` : ''}\nImages are saved under ${server.outDir}. Press Ctrl-C to stop.\n`);
  if (values.open) openBrowser(server.url);

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write(values.queue ? '\nStopping: the runs go on in the queue (workers run them).\n' : '\nStopping: cancelling runs in progress…\n');
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
