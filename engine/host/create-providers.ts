/**
 * Composition of the four provider adapters for a host (CLI, server, library caller): keys and
 * base URLs from the environment, the embedded emulator when no key is set, an optional callback
 * receiver, and the list of secrets hosts must redact.
 */
import { randomBytes } from 'node:crypto';
import type { Provider, ProviderAccountRef, ProviderSet } from '../core/provider';
import { accountsOf, isKeyed } from './accounts';
import type { Emulator } from '../emulator/types';
import { createBflProvider, isLoopbackHost } from '../providers/bfl';
import { CallbackReceiver } from '../providers/callbacks';
import type { AdapterOptions } from '../providers/common';
import { createCrunProvider, CRUN_INPUT_STYLES, type CrunInputStyle } from '../providers/crun';
import { createKieProvider } from '../providers/kie';
import { createNovitaProvider } from '../providers/novita';
import type { PollSettings } from '../providers/poll';
import { PublicReferenceLinks } from '../refs/public-server';
import { EngineError } from '../core/errors';
import { BFL_DEFAULT_BASE_URL } from '../providers/bfl';
import { CRUN_DEFAULT_BASE_URL } from '../providers/crun';
import { KIE_DEFAULT_BASE_URL } from '../providers/kie';
import { NOVITA_DEFAULT_BASE_URL } from '../providers/novita';

export const PROVIDER_IDS = ['bfl', 'kie', 'novita', 'crun'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];

/** Env var of each provider's key and base URL. */
export const PROVIDER_ENV: Record<ProviderId, { key: string; baseUrl: string }> = {
  bfl: { key: 'BFL_API_KEY', baseUrl: 'BFL_BASE_URL' },
  kie: { key: 'KIE_API_KEY', baseUrl: 'KIE_BASE_URL' },
  novita: { key: 'NOVITA_API_KEY', baseUrl: 'NOVITA_BASE_URL' },
  crun: { key: 'CRUN_API_KEY', baseUrl: 'CRUN_BASE_URL' },
};

const DEFAULT_BASE_URLS: Record<ProviderId, string> = { bfl: BFL_DEFAULT_BASE_URL, kie: KIE_DEFAULT_BASE_URL, novita: NOVITA_DEFAULT_BASE_URL, crun: CRUN_DEFAULT_BASE_URL };

/** Where a provider's requests go and where its key comes from (never the key itself). */
export interface ProviderRoute {
  endpoint: string;
  /** Env var the key is read from. */
  keyEnv: string;
  /** "embedded emulator", "BFL_API_KEY (environment)", "BFL_API_KEY (.env)", or undefined: no key. */
  keySource?: string;
}

/** Key the adapters send to the embedded emulator (it accepts any non-empty key). */
const EMULATOR_KEY = 'embedded-emulator';

export interface HostProviders {
  providers: ProviderSet;
  /** True when the adapters talk to the in-process emulator. */
  embedded: boolean;
  emulatorUrl?: string;
  /** The in-process emulator, when embedded (tests and benchmarks inject faults through it). */
  emulator?: Emulator;
  /** The callback receiver, when callbacks are on. */
  callbacks?: CallbackReceiver;
  /** Providers that have a key set (the embedded emulator is off when any has). */
  keyed: string[];
  route(id: string): ProviderRoute | undefined;
  /** Origins a pipeline URL may point at whatever their address: the emulator and the configured provider base URLs. */
  trustedOrigins: string[];
  /** Every secret value, so hosts can redact. */
  secrets: string[];
  /** Signed links to local references on the receiver (FLUXGRAPH_PUBLIC_URL). */
  publicRefs?: PublicReferenceLinks;
  /** Set when embedded: the emulator's result URLs die with this process (reference delivery). */
  session?: string;
  close(): Promise<void>;
}

export interface CreateProvidersOptions {
  env: Record<string, string | undefined>;
  /** auto: the emulator only when no provider key is set. Default: env FLUXGRAPH_EMULATOR, else auto. */
  emulator?: 'auto' | 'always' | 'never';
  onNotice?: (line: string) => void;
  /** Names that came from the .env file rather than the process environment (for "key source" lines). */
  fromEnvFile?: ReadonlySet<string>;
  poll?: Partial<PollSettings>;
  /**
   * Completion callbacks. auto (default): on with the embedded emulator, or when
   * FLUXGRAPH_CALLBACK_URL (a public URL forwarding to the local receiver) is set.
   */
  callbacks?: 'auto' | 'on' | 'off';
}

export async function createProviders(opts: CreateProvidersOptions): Promise<HostProviders> {
  const env = opts.env;
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const mode = opts.emulator ?? emulatorMode(value('FLUXGRAPH_EMULATOR'));
  // A provider is keyed by BFL_API_KEY or BFL_API_KEYS=teamA:<key>,… (an empty variable is unset).
  const keyed = PROVIDER_IDS.filter((id) => isKeyed(env, id));
  // Parsed up front: a malformed list is one clear line before anything starts.
  const accountKeys = Object.fromEntries(PROVIDER_IDS.map((id) => [id, accountsOf(env, id)]));
  const embedded = mode === 'always' || (mode === 'auto' && keyed.length === 0);

  // crun.ai's FLUX.2 input shape is not published: one switch for the adapter and the embedded emulator.
  const crunStyleText = value('CRUN_INPUT_STYLE');
  if (crunStyleText && !(CRUN_INPUT_STYLES as readonly string[]).includes(crunStyleText)) {
    throw new EngineError('usage', `CRUN_INPUT_STYLE=${crunStyleText}: expected one of ${CRUN_INPUT_STYLES.join(', ')}`);
  }
  const crunStyle = crunStyleText as CrunInputStyle | undefined;

  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };

  try {
    let emulator: Emulator | undefined;
    if (embedded) {
      const { startEmulator } = await import('../emulator/server');
      // A per-process kie HMAC key, so kie callbacks from the emulator are signed and verified.
      emulator = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0, kieWebhookHmacKey: randomBytes(24).toString('base64url'), ...(crunStyle ? { crunInputStyle: crunStyle } : {}) });
      const em = emulator;
      closers.push(() => em.close());
      opts.onNotice?.(
        keyed.length === 0
          ? `No provider API key set: using the embedded emulator at ${em.baseUrl}; images are local stand-ins, not FLUX.`
          : `Using the embedded emulator at ${em.baseUrl} (FLUXGRAPH_EMULATOR=always); images are local stand-ins, not FLUX.`,
      );
    }

    const callbackMode = opts.callbacks ?? 'auto';
    const publicBaseUrl = value('FLUXGRAPH_CALLBACK_URL');
    const wantCallbacks = callbackMode === 'on' || (callbackMode === 'auto' && (embedded || publicBaseUrl !== undefined));
    let callbacks: CallbackReceiver | undefined;
    if (wantCallbacks) {
      const port = Number(value('FLUXGRAPH_CALLBACK_PORT') ?? 0);
      callbacks = await CallbackReceiver.start({ port: Number.isInteger(port) && port >= 0 ? port : 0, publicBaseUrl: embedded ? undefined : publicBaseUrl });
      const cb = callbacks;
      closers.push(() => cb.close());
    }

    // The upload API follows KIE_BASE_URL when only that is set (a proxy or an emulator), so uploads never go elsewhere.
    const kieUploadBase = embedded ? emulator!.baseUrl : (value('KIE_UPLOAD_BASE_URL') ?? value(PROVIDER_ENV.kie.baseUrl));
    // Way 4 of issue 10: signed links to local references on the receiver's port, behind the user's tunnel.
    const refsBase = value('FLUXGRAPH_PUBLIC_URL') ?? publicBaseUrl;
    let publicRefs: PublicReferenceLinks | undefined;
    if (refsBase) {
      if (!/^https?:\/\/[^/]/i.test(refsBase)) throw new EngineError('usage', `FLUXGRAPH_PUBLIC_URL=${refsBase}: expected an http(s) URL that forwards to this machine`);
      let receiver = callbacks;
      if (!receiver) {
        const port = Number(value('FLUXGRAPH_CALLBACK_PORT') ?? 0);
        const started = await CallbackReceiver.start({ port: Number.isInteger(port) && port >= 0 ? port : 0 });
        closers.push(() => started.close());
        receiver = started;
      }
      const ttlSec = Number(value('FLUXGRAPH_PUBLIC_LINK_TTL_SEC') ?? 3600);
      const links = new PublicReferenceLinks(refsBase, Number.isFinite(ttlSec) ? ttlSec * 1000 : undefined);
      receiver.mount((req, res) => links.handle(req, res));
      publicRefs = links;
    }

    const kieHmacKey = embedded ? emulator!.options.kieWebhookHmacKey : value('KIE_WEBHOOK_HMAC_KEY');
    const optionsFor = (id: ProviderId, apiKey?: string): AdapterOptions => ({
      apiKey: embedded ? EMULATOR_KEY : apiKey,
      baseUrl: embedded ? emulator!.baseUrl : value(PROVIDER_ENV[id].baseUrl),
      poll: opts.poll,
      callbacks,
    });
    // BFL delivers webhooks only to https endpoints (providers.md 9): over http its tasks are polled.
    const bflCallbacks = callbacks && !embedded && publicBaseUrl && !webhookReachableByBfl(publicBaseUrl) ? undefined : callbacks;
    if (callbacks && !bflCallbacks) {
      opts.onNotice?.(`BFL sends webhooks only to https URLs and FLUXGRAPH_CALLBACK_URL is http: BFL tasks are polled instead (the other providers still call back)`);
    }
    const adapter = (id: ProviderId, apiKey?: string): Provider => {
      const o = optionsFor(id, apiKey);
      switch (id) {
        case 'bfl':
          return createBflProvider({ ...o, callbacks: bflCallbacks, ...(embedded ? { signatureHeader: emulator!.options.bflSignatureHeader } : {}) });
        case 'kie':
          return createKieProvider({ ...o, ...(kieHmacKey ? { webhookHmacKey: kieHmacKey } : {}), ...(kieUploadBase ? { uploadBaseUrl: kieUploadBase } : {}) });
        case 'novita':
          return createNovitaProvider(o);
        case 'crun':
          return createCrunProvider({ ...o, ...(crunStyle ? { inputStyle: crunStyle } : {}) });
      }
    };
    // One adapter per account, each with its own key; the embedded emulator is one account.
    const accountsById = new Map<string, ProviderAccountRef[]>(
      PROVIDER_IDS.map((id) => [id, embedded ? [{ name: 'default', provider: adapter(id) }] : accountKeys[id].map((a) => ({ name: a.name, provider: adapter(id, a.key) }))]),
    );
    // The provider's own entry is its first account's adapter (or a keyless one that names the variable).
    const byId = new Map<string, Provider>(PROVIDER_IDS.map((id) => [id, accountsById.get(id)![0]?.provider ?? adapter(id)]));
    const defaultId = embedded || keyed.length === 0 || keyed.includes('bfl') ? 'bfl' : keyed[0];
    const providers: ProviderSet = {
      get: (id) => byId.get(id),
      ids: () => [...PROVIDER_IDS],
      defaultId,
      accounts: (id) => accountsById.get(id) ?? [],
    };

    const secrets = () =>
      [
        ...PROVIDER_IDS.flatMap((id) => accountKeys[id].map((a) => a.key)),
        kieHmacKey,
        // The reference bucket's credentials (engine/store/s3.ts), should they ever surface in a message.
        value('AWS_SECRET_ACCESS_KEY'),
        value('AWS_SESSION_TOKEN'),
        ...(callbacks?.allSecrets() ?? []),
      ].filter((s): s is string => s !== undefined);

    const route = (id: string): ProviderRoute | undefined => {
      if (!(PROVIDER_IDS as readonly string[]).includes(id)) return undefined;
      const pid = id as ProviderId;
      const keyEnv = PROVIDER_ENV[pid].key;
      if (embedded) return { endpoint: emulator!.baseUrl, keyEnv, keySource: 'embedded emulator' };
      const endpoint = (value(PROVIDER_ENV[pid].baseUrl) ?? DEFAULT_BASE_URLS[pid]).replace(/\/+$/, '');
      const from = value(keyEnv) !== undefined ? keyEnv : value(`${keyEnv}S`) !== undefined ? `${keyEnv}S` : undefined;
      return { endpoint, keyEnv, ...(from ? { keySource: `${from} (${opts.fromEnvFile?.has(from) ? '.env' : 'environment'})` } : {}) };
    };
    const trustedOrigins = [
      ...(emulator ? [new URL(emulator.baseUrl).origin, new URL(emulator.pollBaseUrl).origin] : []),
      ...PROVIDER_IDS.flatMap((id) => {
        const configured = value(PROVIDER_ENV[id].baseUrl);
        try {
          return configured ? [new URL(configured).origin] : [];
        } catch {
          return [];
        }
      }),
    ];

    return {
      providers,
      embedded,
      keyed,
      route,
      trustedOrigins,
      ...(emulator ? { emulatorUrl: emulator.baseUrl, emulator, session: `emulator-${randomBytes(8).toString('hex')}` } : {}),
      ...(callbacks ? { callbacks } : {}),
      ...(publicRefs ? { publicRefs } : {}),
      get secrets() {
        return secrets();
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

function webhookReachableByBfl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}

function emulatorMode(v: string | undefined): 'auto' | 'always' | 'never' {
  const s = v?.toLowerCase();
  if (s === 'always' || s === '1' || s === 'true' || s === 'on') return 'always';
  if (s === 'never' || s === '0' || s === 'false' || s === 'off') return 'never';
  return 'auto';
}
