/**
 * The editor's local server, a composition root: registry, providers (keys from the environment,
 * or the embedded emulator), artifact store, run registry, editor files, all behind one
 * node:http server on loopback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AccessStore } from '../store/access';
import type { Ledger } from '../store/ledger';
import type { AccessControl } from './access-control';
import type { AddressInfo } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { describeRegistry } from '../core/describe';
import type { NodeRegistry } from '../core/registry';
import type { TaskHooks } from '../core/run-options';
import type { ArtifactStore } from '../core/store';
import { createProviders, type HostProviders } from '../host/create-providers';
import { ACCOUNT_PROVIDERS, isKeyed, type AccountProvider } from '../host/accounts';
import { loadEnv } from '../host/env';
import { FileArtifactStore } from '../store/artifacts';
import { openLedger } from '../cli/cli-host';
import { EngineError } from '../core/errors';
import { folderProblem } from '../host/folders';
import { safeFetch } from '../host/safe-fetch';
import { createReferenceDelivery } from '../refs/host';
import { createRegistry } from '../../nodes/index';
import type { ProvidersResponse, ServerInfo } from '../../editor/api/types';
import { createApp, DEFAULT_MAX_BODY_BYTES } from './app';
import { DocumentFolders, isInside } from './documents';
import { devEditor, ensureEditorBuild, REPO_ROOT, staticEditor, type EditorAssets } from './editor-assets';
import { redactor } from '../host/redact';
import { ImageService } from './images';
import { RunRegistry } from './runs';
import { QueuedRuns } from './queued-runs';
import { openQueueMode } from './queue-mode';
import { createGuard, isLoopbackHost } from './security';

export const DEFAULT_PORT = 5177;

export interface ServerOptions {
  /** 0 = any free port. Default 5177 (the next free one if taken, unless `strictPort`). */
  port?: number;
  strictPort?: boolean;
  /** Interface to listen on; loopback by default. */
  host?: string;
  /** Extra Host header names to accept (only needed with a non-loopback `host`). */
  allowedHosts?: string[];
  cwd?: string;
  /** Where save-image writes files (default ./out). */
  outDir?: string;
  /** Artifact store, thumbnails and history live here (default ./.fluxgraph, or FLUXGRAPH_CACHE_DIR). */
  cacheDir?: string;
  /**
   * The folder the editor may open and save pipeline files in (default cwd). Relative paths in a
   * document resolve against its own file's folder, or against this one for a document without.
   */
  baseDir?: string;
  /** A pipeline file to open in the editor (inside `baseDir`). */
  open?: string;
  /** Where the templates come from (default: the repository's examples/). */
  examplesDir?: string;
  env?: Record<string, string | undefined>;
  /** build (default): build on demand and serve static files; dev: vite middleware with hot reload; none: API only. */
  editor?: 'build' | 'dev' | 'none';
  /** Use these providers instead of creating them from the environment (tests). */
  providers?: HostProviders;
  registry?: NodeRegistry;
  store?: ArtifactStore;
  /** false: no ledger (no cache, no resume); default: <cacheDir>/ledger.sqlite, shared with the CLI. */
  ledger?: false;
  tasks?: TaskHooks;
  maxBodyBytes?: number;
  /** Largest image POST /api/provenance reads (default 40 MB). */
  maxImageBytes?: number;
  log?: (line: string) => void;
  /** Serve https with this certificate and key (PEM): needed to listen off loopback unless `behindProxy`. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** A TLS-terminating proxy is in front: access tokens are required even on loopback, cookies are Secure. */
  behindProxy?: boolean;
  /** Names the server is reached by (Host and Origin checks), e.g. the proxy's public name. */
  publicHosts?: string[];
  /** Where access tokens live (default: this server's ledger; Postgres in team mode). */
  access?: AccessStore;
  /**
   * Team mode (`serve --queue`): runs go to the shared queue (FLUXGRAPH_REDIS_URL), the ledger is
   * Postgres and images live in the shared store; the live view follows each run's Redis stream.
   */
  queue?: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  host: HostProviders;
  runs: RunRegistry;
  /** Team mode: the runs in the shared queue. */
  queued?: QueuedRuns;
  assets?: EditorAssets;
  outDir: string;
  close(): Promise<void>;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((done, fail) => {
    const onError = (e: Error) => {
      server.off('listening', onListening);
      fail(e);
    };
    const onListening = () => {
      server.off('error', onError);
      done((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const env = options.env ?? loadEnv(cwd);
  const rawLog = options.log ?? (() => undefined);
  // Every log line passes the redactor once the providers (and so the secrets) are known.
  let redactLine: (line: string) => string = (line) => line;
  const log = (line: string) => rawLog(redactLine(line));
  const listenHost = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(listenHost)) log(`Warning: listening on ${listenHost}, not loopback: other machines can reach this server.`);
  const outDir = resolve(cwd, options.outDir ?? 'out');
  const cacheDir = resolve(cwd, options.cacheDir ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph');
  const baseDir = resolve(cwd, options.baseDir ?? '.');
  const documents = new DocumentFolders(baseDir, options.examplesDir ?? join(REPO_ROOT, 'examples'));
  let opened: string | undefined;
  if (options.open !== undefined) {
    const abs = resolve(cwd, options.open);
    if (!isInside(baseDir, abs)) throw new Error(`${options.open} is outside the base folder ${baseDir}: pass --base-dir to a folder that holds it`);
    if (!existsSync(abs)) throw new Error(`${options.open}: no such file`);
    opened = documents.relativeName(abs);
  }
  const registry = options.registry ?? createRegistry();

  // The cache folder and the ledger first: a problem with them is one line, and nothing was started.
  const problem = await folderProblem(cacheDir);
  if (problem) throw new EngineError('unwritable_folder', `cache folder (--cache-dir or FLUXGRAPH_CACHE_DIR) ${problem}`);
  // Team mode: the queue, the Postgres ledger and the shared store instead of the local ones.
  const team = options.queue ? await openQueueMode(env, cacheDir) : undefined;
  const store = options.store ?? team?.store ?? new FileArtifactStore(join(cacheDir, 'store'));
  const ledger = options.ledger === false || team ? undefined : await openLedger(join(cacheDir, 'ledger.sqlite'));
  const closeLedgers = async () => {
    ledger?.close();
    await team?.close();
  };
  // Others can reach it: access tokens, and never over plain http.
  let access: AccessControl | undefined;
  try {
    access = await accessControlFor(team && !options.access ? { ...options, access: team.ledger.access } : options, listenHost, ledger);
  } catch (e) {
    await closeLedgers();
    throw e;
  }
  let host: HostProviders;
  try {
    host = options.providers ?? team?.host ?? (await createProviders({ env, onNotice: log }));
  } catch (e) {
    await closeLedgers();
    throw e;
  }
  const ownsHost = options.providers === undefined && !team;
  const redact = redactor(() => host.secrets);
  redactLine = redact;
  const allowPrivate = /^(1|true|on)$/i.test(env.FLUXGRAPH_ALLOW_PRIVATE_URLS ?? '');
  const runs = new RunRegistry({
    registry,
    providers: host.providers,
    store,
    outDir,
    baseDir,
    ...(team ? {} : { historyFile: join(cacheDir, 'editor-runs.json') }),
    ...(ledger ? { ledger } : {}),
    // In team mode this registry only validates and estimates: what the store holds is priced at $0.
    ...(options.tasks ? { tasks: options.tasks } : team ? { tasks: team.ledger.hooks('editor-estimates') } : {}),
    embedded: host.embedded,
    references: () => createReferenceDelivery({ env, host, store, ...(ledger ? { ledger } : {}) }),
    // A pipeline opened in the editor may come from anyone: its URLs reach public addresses only.
    download: async (url, signal) => (await safeFetch(url, { signal, allowedOrigins: host.trustedOrigins, allowPrivate })).bytes,
    allowPrivateUrls: allowPrivate,
    host,
    redact,
    log,
  });
  // A resumed run's files lie in the base folder, or in the examples folder for a template's run.
  runs.confineRootOf = (folder) => (isInside(documents.examplesDir, folder) && !isInside(baseDir, folder) ? documents.examplesDir : baseDir);
  const queued = team
    ? new QueuedRuns({
        registry,
        providers: host.providers,
        store,
        outDir,
        baseDir,
        queue: team.queue,
        ledger: team.ledger,
        redisUrl: team.redisUrl,
        checks: runs,
        host,
        allowPrivateUrls: allowPrivate,
        log,
      })
    : undefined;
  try {
    await (queued ?? runs).init();
  } catch (e) {
    await closeLedgers();
    throw e;
  }

  const keyed = (id: string) => (ACCOUNT_PROVIDERS as readonly string[]).includes(id) && isKeyed(env, id as AccountProvider);
  const providersInfo = (): ProvidersResponse => ({
    providers: host.providers.ids().flatMap((id) => {
      const p = host.providers.get(id);
      if (!p) return [];
      return [
        {
          id,
          title: p.title,
          hasKey: keyed(id),
          emulated: host.embedded,
          models: [...p.capabilities.models],
          defaultConcurrency: p.capabilities.defaultConcurrency,
        },
      ];
    }),
    defaultId: host.providers.defaultId,
    embeddedEmulator: host.embedded,
  });

  const relOut = relative(cwd, outDir);
  const info: ServerInfo = { name: 'fluxgraph', version: packageVersion(), outDir: relOut && !relOut.startsWith('..') ? relOut : outDir };
  let port = 0;
  const server: Server = options.tls ? createHttpsServer({ maxHeaderSize: 16 * 1024, cert: options.tls.cert, key: options.tls.key }) : createServer({ maxHeaderSize: 16 * 1024 });
  const state: { assets?: EditorAssets; handler?: ReturnType<typeof createApp> } = {};
  server.on('request', (req, res) => {
    if (state.handler) state.handler(req, res);
    else {
      res.writeHead(503, { 'retry-after': '1' });
      res.end();
    }
  });

  try {
    if (options.editor !== 'none' && options.editor !== 'dev') {
      state.assets = staticEditor(await ensureEditorBuild({ log }));
    }
    const wanted = options.port ?? DEFAULT_PORT;
    const tries = options.strictPort || options.port === 0 || options.port !== undefined ? 1 : 20;
    for (let i = 0; ; i++) {
      try {
        port = await listen(server, wanted === 0 ? 0 : wanted + i, listenHost);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i + 1 >= tries) {
          throw new Error(
            (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `port ${wanted + i} is in use: pick another with --port` : (e as Error).message,
            { cause: e },
          );
        }
      }
    }
    if (options.editor === 'dev') state.assets = await devEditor(server, { port });
    // Listening on a specific non-loopback address on purpose: requests name that address.
    const extraHosts = [...(options.allowedHosts ?? []), ...(isLoopbackHost(listenHost) || listenHost === '0.0.0.0' || listenHost === '::' ? [] : [listenHost.includes(':') ? `[${listenHost}]` : listenHost])];
    const guard = createGuard({
      port,
      ...(extraHosts.length ? { allowedHosts: extraHosts } : {}),
      ...(options.publicHosts?.length ? { publicHosts: options.publicHosts } : {}),
      scheme: options.tls ? 'https' : 'http',
      ...(options.behindProxy ? { behindProxy: true } : {}),
    });
    state.handler = createApp({
      guard,
      ...(access ? { access } : {}),
      redact,
      info,
      descriptors: describeRegistry(registry),
      providers: providersInfo,
      runs: queued ?? runs,
      images: new ImageService(store, join(cacheDir, 'thumbs')),
      ...(state.assets ? { assets: state.assets } : {}),
      documents,
      ...(opened ? { opened } : {}),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      ...(options.maxImageBytes ? { maxImageBytes: options.maxImageBytes } : {}),
      log,
    });
  } catch (e) {
    server.close();
    await state.assets?.close();
    if (ownsHost) await host.close();
    await queued?.close();
    await closeLedgers();
    throw e;
  }

  const urlHost = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    port,
    server,
    host,
    runs,
    ...(queued ? { queued } : {}),
    ...(state.assets ? { assets: state.assets } : {}),
    outDir,
    close() {
      closing ??= (async () => {
        // Team mode: the runs go on in the queue; only this server's followers stop.
        await queued?.close();
        await runs.close();
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        await state.assets?.close();
        if (ownsHost) await host.close();
        await closeLedgers();
      })();
      return closing;
    },
  };
}

/**
 * Access control for a server others can reach (off loopback, or behind a proxy): refused without
 * TLS (or a TLS-terminating proxy) and without at least one access token to sign in with.
 * Loopback without a proxy: no tokens, as before.
 */
async function accessControlFor(options: ServerOptions, listenHost: string, ledger: Ledger | undefined): Promise<AccessControl | undefined> {
  const exposed = !isLoopbackHost(listenHost) || options.behindProxy === true;
  if (!exposed) return undefined;
  const where = options.behindProxy ? 'behind a proxy' : `on ${listenHost}`;
  if (!options.tls && !options.behindProxy) {
    throw new EngineError('usage', `serving ${where} would send access tokens over the network in clear: give --tls-cert FILE and --tls-key FILE, or --behind-proxy when a TLS-terminating proxy is in front`);
  }
  const store = options.access ?? ledger?.access;
  if (!store) throw new EngineError('usage', `serving ${where} needs access tokens, and this server keeps no ledger to hold them`);
  if (!(await store.hasTokens())) {
    throw new EngineError('usage', `serving ${where} needs access control, and no access token exists yet: make one with fluxgraph token add NAME --admin (it is shown once)`);
  }
  return { store, secureCookie: true };
}
