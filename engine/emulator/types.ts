/** Public types of the provider emulator (design.md 1.7). */
import type { FaultConfig } from './faults';

/** The four emulated providers. */
export type ProviderName = 'bfl' | 'kie' | 'novita' | 'crun';
export const PROVIDER_NAMES: readonly ProviderName[] = ['bfl', 'kie', 'novita', 'crun'];

/**
 * How long result URLs work after completion, as documented (providers.md 1.7, 2.4, 3.2, 4):
 * BFL 10 minutes [V]; novita 1 hour (`image_url_ttl` 3600) [V]; kie "typically 24 hours" (another
 * page says media is kept 14 days [U]); crun publishes none [U]: 10 minutes, the shortest known.
 */
export const RESULT_TTL_MS: Record<ProviderName, number> = { bfl: 10 * 60_000, novita: 60 * 60_000, kie: 24 * 60 * 60_000, crun: 10 * 60_000 };

/** Output encodings the emulator renders. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/**
 * kie.ai and crun.ai put an error `code` in the body; whether the HTTP status mirrors it is not
 * documented (providers.md 2.3, [U]). `mirror`: HTTP status = code; `http200`: always HTTP 200.
 */
export type ErrorStatusStyle = 'mirror' | 'http200';

/** Emulator configuration; `startEmulator` takes any subset (defaults in server.ts). */
export interface EmulatorOptions {
  /** Port of the submit base URL (0 = any free port). */
  port: number;
  /** Port of BFL's polling_url and result URLs: a different origin than submit (0 = any). */
  pollPort: number;
  /** Interface both servers listen on. */
  host: string;
  /** Host name written into polling and BFL result URLs; differs from `host` on purpose. */
  pollHostname: string;
  /** Time from submit to the terminal state, ms. */
  latencyMs: number;
  /** When set, other keys are refused with each provider's auth error; otherwise any non-empty key works. */
  validKeys?: string[];
  /** Active (unfinished) tasks allowed per provider and key; BFL documents 24. */
  activeTaskCap: number;
  /**
   * Lifetime of result image URLs after completion, ms, for all four providers. Unset: each
   * provider's documented lifetime ({@link RESULT_TTL_MS}).
   */
  resultTtlMs?: number;
  /** Per provider, over `resultTtlMs` and the documented lifetimes. */
  resultTtlByProvider?: Partial<Record<ProviderName, number>>;
  /** Age after which a task is forgotten (BFL answers "Task not found"), ms. */
  taskTtlMs: number;
  /** HTTP status style of kie.ai and crun.ai errors. */
  errorStatusStyle: ErrorStatusStyle;
  /** Seed of every PRNG stream (faults, random seeds). */
  seed: number;
  /** Faults active from the start. */
  faults: FaultConfig;
  /** Account balance per provider and key, in that provider's credits. */
  initialCredits: number;
  /** kie.ai account `webhookHmacKey`: when set, kie callbacks carry X-Webhook-Signature. */
  kieWebhookHmacKey?: string;
  /** Header BFL webhooks are signed in (providers.md 1.9 [U]). */
  bflSignatureHeader: string;
  /** BFL get_result on the submit origin answers "Task not found", so rebuilt polling URLs fail. */
  strictPollingHost: boolean;
  /**
   * BFL's answer to a submit with `webhook_url`: `include` a polling_url (as recorded traffic
   * shows) or `omit` it, as the OpenAPI's AsyncWebhookResponse allows [U]; then the task is
   * answered on the host that accepted the submit.
   */
  bflWebhookPollingUrl?: 'include' | 'omit';
  /**
   * HTTP status of BFL's "Task not found": 200 with the status in the body, as the OpenAPI's
   * status enum suggests [I], or 404, which some clients handle [S]. Default 200.
   */
  bflNotFoundStatus?: 200 | 404;
  /** Whether novita sends `extra.webhook` callbacks for FLUX.2 tasks (not listed on its FLUX.2 pages [U]); default send. */
  novitaWebhooks?: 'send' | 'ignore';
  /** Which of the two plausible crun.ai FLUX.2 input shapes to enforce (crun-inputs.ts, [U]); default img_urls. */
  crunInputStyle?: 'img_urls' | 'input_images';
  /** Delays between callback retries after a non-2xx or network error, ms. */
  callbackRetryDelaysMs: number[];
  /** Lifetime of files uploaded through kie.ai's upload API, ms (default 24 h). */
  uploadTtlMs?: number;
  /** Clock of the task state machines (default Date.now); tests inject one to step through states. */
  clock?: () => number;
}

/** Fault counts injected in one phase. */
export interface InjectedCounts {
  rate429: number;
  error5xx: number;
  drop: number;
  dropAfterAccept: number;
  insufficientCredits: number;
  expired: number;
  truncate: number;
  delayed: number;
  /** Downloads refused by the deterministic `failFirst` fault. */
  failedFirst: number;
  /** Status requests answered "not found" for a task that exists (poll fault `notFoundPolls`). */
  notFound: number;
}

/** Counters for tests; a snapshot, safe to keep. */
export interface EmulatorStats {
  /** Tasks created per provider (each one would have been paid). */
  submissions: Record<ProviderName, number>;
  /** Submit HTTP requests per provider, refused ones included. */
  submitRequests: Record<ProviderName, number>;
  /** Tasks created per unique request (sha256 of provider, path and canonical JSON body). */
  requestCounts: Record<string, number>;
  polls: Record<ProviderName, number>;
  downloads: Record<ProviderName, number>;
  /** Files received through upload APIs (kie.ai). */
  uploads: Record<ProviderName, number>;
  injected: Record<'submit' | 'poll' | 'download', InjectedCounts>;
  /** 429s because the key had too many active tasks. */
  capRejections: Record<ProviderName, number>;
  /** Highest number of simultaneously active tasks per provider and key. */
  peakActive: Record<ProviderName, Record<string, number>>;
  outcomes: Record<'ready' | 'request_moderated' | 'content_moderated' | 'failed' | 'stuck', number>;
  callbacks: {
    /** POSTs attempted (retries and duplicates included). */
    sent: Record<ProviderName, number>;
    delivered: number;
    failed: number;
    missing: number;
    duplicated: number;
    badSignature: number;
  };
}

/** A request that created more than one task. */
export interface DuplicateSubmission {
  hash: string;
  provider: ProviderName;
  path: string;
  count: number;
}

/** Plain view of one emulated task. */
export interface TaskSummary {
  id: string;
  provider: ProviderName;
  model: string;
  key: string;
  prompt: string;
  seed: number;
  width: number;
  height: number;
  outcome: 'ready' | 'request_moderated' | 'content_moderated' | 'failed' | 'stuck';
  terminal: boolean;
  createdAt: number;
  requestHash: string;
  /** Credits the task cost the account (0 for outcomes the provider does not charge). */
  charged: number;
}

/** A running emulator, as `startEmulator` returns it. */
export interface Emulator {
  /** Submit base for all four providers, e.g. http://127.0.0.1:PORT. */
  readonly baseUrl: string;
  /** The other origin: BFL polling_url and result URLs point here. */
  readonly pollBaseUrl: string;
  readonly options: Readonly<EmulatorOptions>;
  /** Replaces the fault configuration. */
  setFaults(faults: FaultConfig): void;
  setLatency(ms: number): void;
  stats(): EmulatorStats;
  /** Rendered image bytes held for downloads not made yet (all others are rendered again when fetched). */
  memory(): { heldImages: number; heldBytes: number };
  /** Requests that created more than one task (a client paid twice). */
  duplicateSubmissions(): DuplicateSubmission[];
  tasks(): TaskSummary[];
  /** Forgets tasks, stats and balances and restarts the PRNG streams. */
  reset(): void;
  close(): Promise<void>;
}
