/**
 * The provider emulator: two node:http servers (submit origin and polling/delivery origin) that
 * speak BFL, kie.ai, novita.ai and crun.ai (providers.md) with deterministic images and faults.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bflProtocol } from './bfl';
import { crunProtocol } from './crun';
import { deliveryFault, deliveryProvider, handleDelivery } from './delivery';
import type { FaultConfig, Phase } from './faults';
import { dropConnection, gatewayPage, sendReply, sleep, type Reply } from './http';
import { kieProtocol } from './kie';
import { novitaProtocol } from './novita';
import type { ProviderProtocol, RequestContext, Route } from './protocol';
import { EmulatorState } from './state';
import { summarize } from './tasks';
import type { Emulator, EmulatorOptions, ProviderName } from './types';

const PROTOCOLS: ProviderProtocol[] = [bflProtocol, kieProtocol, novitaProtocol, crunProtocol];

export const DEFAULT_OPTIONS: EmulatorOptions = {
  port: 0,
  pollPort: 0,
  host: '127.0.0.1',
  pollHostname: 'localhost',
  latencyMs: 300,
  activeTaskCap: 24,
  taskTtlMs: 24 * 60 * 60 * 1000,
  errorStatusStyle: 'http200',
  seed: 1,
  faults: {},
  initialCredits: 1_000_000,
  bflSignatureHeader: 'X-BFL-Signature',
  strictPollingHost: true,
  callbackRetryDelaysMs: [1000, 5000, 30000],
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '::', '::1']);

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function resolveOptions(opts: Partial<EmulatorOptions>): EmulatorOptions {
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<EmulatorOptions>;
  const options = { ...DEFAULT_OPTIONS, ...defined };
  if (opts.pollHostname === undefined) options.pollHostname = LOOPBACK.has(options.host) ? 'localhost' : options.host;
  return options;
}

interface Matched {
  protocol: ProviderProtocol;
  provider: ProviderName;
  phase: Phase;
  handle: Route['handle'] | null;
}

function matchRoute(method: string, pathname: string): Matched | undefined {
  const delivery = deliveryProvider(pathname);
  if (delivery) {
    const protocol = PROTOCOLS.find((p) => p.name === delivery)!;
    return { protocol, provider: delivery, phase: 'download', handle: method === 'GET' ? handleDelivery : null };
  }
  for (const protocol of PROTOCOLS) {
    for (const route of protocol.routes) {
      const hit = typeof route.path === 'string' ? route.path === pathname : route.path.test(pathname);
      if (hit) return { protocol, provider: protocol.name, phase: route.phase, handle: route.method === method ? route.handle : null };
    }
  }
  return undefined;
}

function faultReply(state: EmulatorState, m: Matched, kind: 'rate429' | 'error5xx', status: number, retryAfterSec: number): Reply {
  if (m.phase === 'download') return deliveryFault(kind, status, retryAfterSec);
  if (kind === 'rate429') return m.protocol.rateLimited(retryAfterSec, state);
  // A gateway in front of the API answers 502/504 with its own HTML page, whatever the provider.
  if (status === 502 || status === 504) return { status, body: gatewayPage(status) };
  return m.protocol.serverError(status, state, m.phase);
}

async function handle(state: EmulatorState, req: IncomingMessage, res: ServerResponse, origin: 'submit' | 'poll'): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const m = matchRoute(req.method ?? 'GET', url.pathname);
  if (!m) {
    const owner = PROTOCOLS.find((p) => p.ownsPath(url.pathname)) ?? bflProtocol;
    sendReply(res, owner.notFound());
    return;
  }
  if (!m.handle) {
    sendReply(res, m.protocol.methodNotAllowed());
    return;
  }
  const counters = state.stats.data;
  if (m.phase === 'submit') counters.submitRequests[m.provider]++;
  else if (m.phase === 'poll') counters.polls[m.provider]++;
  else counters.downloads[m.provider]++;

  const delay = state.faults.delayMs(m.phase, m.provider);
  if (delay > 0) {
    counters.injected[m.phase].delayed++;
    await sleep(delay);
  }
  const failing = m.phase === 'download' ? state.faults.failingDownload(m.provider, url.pathname) : undefined;
  if (failing) {
    counters.injected.download.failedFirst++;
    const reply = deliveryFault(failing.status === 429 ? 'rate429' : 'error5xx', failing.status, failing.retryAfterSec);
    sendReply(res, { ...reply, headers: { ...reply.headers, 'retry-after': String(failing.retryAfterSec) } });
    return;
  }
  const gate = state.faults.gate(m.phase, m.provider);
  if (gate.kind === 'drop') {
    counters.injected[m.phase].drop++;
    dropConnection(res);
    return;
  }
  if (gate.kind === 'error5xx') {
    counters.injected[m.phase].error5xx++;
    sendReply(res, faultReply(state, m, 'error5xx', gate.status, 0));
    return;
  }
  if (gate.kind === 'rate429') {
    counters.injected[m.phase].rate429++;
    sendReply(res, faultReply(state, m, 'rate429', 429, gate.retryAfterSec));
    return;
  }
  const ctx: RequestContext = { req, res, url, origin, state };
  const reply = await m.handle(ctx);
  if (reply) sendReply(res, reply);
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Starts both servers; resolves once they listen. */
export async function startEmulator(opts: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  const options = resolveOptions(opts);
  const state = new EmulatorState(options);
  const serve = (origin: 'submit' | 'poll') =>
    http.createServer((req, res) => {
      handle(state, req, res, origin).catch((e: unknown) => {
        // A handler bug must not kill the emulator; it answers like an unhandled FastAPI exception.
        if (!res.headersSent && !res.destroyed) sendReply(res, { status: 500, body: { detail: 'Internal Server Error', error: String(e) } });
      });
    });
  const submitServer = serve('submit');
  const pollServer = serve('poll');
  const port = await listen(submitServer, options.port, options.host);
  let pollPort: number;
  try {
    pollPort = await listen(pollServer, options.pollPort, options.host);
  } catch (e) {
    await closeServer(submitServer);
    throw e;
  }
  options.port = port;
  options.pollPort = pollPort;
  state.baseUrl = `http://${urlHost(options.host)}:${port}`;
  state.pollBaseUrl = `http://${urlHost(options.pollHostname)}:${pollPort}`;

  let closed: Promise<void> | undefined;
  return {
    baseUrl: state.baseUrl,
    pollBaseUrl: state.pollBaseUrl,
    options,
    setFaults(faults: FaultConfig) {
      state.faults.set(faults);
    },
    setLatency(ms: number) {
      options.latencyMs = Math.max(0, ms);
    },
    stats: () => state.stats.snapshot(),
    memory: () => state.memory(),
    duplicateSubmissions: () => state.stats.duplicates(),
    tasks: () => state.tasks.all().map((t) => summarize(t, state.now())),
    reset() {
      state.reset();
    },
    close() {
      closed ??= (async () => {
        state.close();
        await Promise.all([closeServer(submitServer), closeServer(pollServer)]);
      })();
      return closed;
    },
  };
}
