/**
 * What the engine needs from an image provider (design.md 1.6). Concrete adapters live in
 * engine/providers/; the core only knows this interface.
 */
import type { ImageAsset } from './ports';

export type ModelId = 'flex' | 'max' | 'pro';

/** A reference image handed to a provider: bytes from the store, or a public URL if it has one. */
export interface ReferenceImage {
  asset: ImageAsset;
  /** Public http(s) URL of this image, if the user gave one. */
  url?: string;
  read(): Promise<Buffer>;
}

/** Provider-neutral request; each adapter maps it to its wire format and reports what it cannot honour. */
export interface ImageRequest {
  model: ModelId;
  prompt: string;
  references: ReferenceImage[];
  width?: number;
  height?: number;
  seed?: number;
  steps?: number;
  guidance?: number;
  promptUpsampling?: boolean;
  safetyTolerance?: number;
  /** webp: in BFL's current output_format enum (providers.md 9); crun's other models take it too. */
  outputFormat?: 'jpeg' | 'png' | 'webp';
}

/** Plain, storable data identifying a submitted (paid) task: enough to resume waiting on it. */
export interface TaskRef {
  provider: string;
  model: ModelId;
  taskId: string;
  /** BFL: the exact polling_url returned by submit (never rebuilt). */
  pollingUrl?: string;
  /** USD if the provider reported it at submit. */
  costUsd?: number;
  submittedAt: number;
  /** Seed actually sent, when the adapter chose or forwarded one. */
  seed?: number;
  /** Adapter-specific plain data needed to wait (e.g. the requested output format). */
  extra?: Record<string, unknown>;
  /** The provider account that created the task (its name, never the key): polls go through it. */
  account?: string;
}

export interface GeneratedImage {
  bytes: Buffer;
  mime: ImageAsset['mime'];
  seed?: number;
  costUsd?: number;
  /** The provider's (expiring) result URL: recorded, and passed on as a reference while it is valid. */
  resultUrl?: string;
  /** When `resultUrl` stops working (epoch ms): published by the provider, read from the URL, or assumed. */
  resultExpiresAt?: number;
  /** sha-256 hex of `bytes`, when the download already computed it (the store then skips hashing). */
  sha256?: string;
}

export interface WaitOptions {
  signal: AbortSignal;
  onProgress?: (fraction: number | undefined, status: string) => void;
  /** Overall limit for the task, stuck-pending included. */
  timeoutMs?: number;
}

export interface SubmitOptions {
  signal: AbortSignal;
  /** Where the provider should POST completion, if callbacks are enabled. */
  callbackUrl?: string;
}

export interface ProviderCapabilities {
  models: ModelId[];
  /** Request fields the provider honours per model; others are reported as warnings. */
  honours: Partial<Record<ModelId, (keyof ImageRequest)[]>>;
  maxReferences: number;
  /** True when references must be public URLs (no bytes upload). */
  referencesMustBeUrls: boolean;
  /** Concurrency cap used when none is set (active tasks per account). */
  defaultConcurrency: number;
  /** Prompt length the provider accepts, in characters (kie.ai: 3 to 5,000). */
  promptLength?: { min: number; max: number };
  /** The provider's published limit of active tasks per account, where there is one (a cap above it is warned about). */
  documentedConcurrency?: number;
  /** Maps a wanted size to one the provider accepts. */
  mapSize(width: number, height: number): { width: number; height: number; note?: string };
}

/** A local image made fetchable through the provider's own upload API (kie.ai). */
export interface UploadedReference {
  url: string;
  /** Epoch ms after which the provider may have deleted it. */
  expiresAt: number;
}

export interface Provider {
  readonly id: string;
  readonly title: string;
  readonly capabilities: ProviderCapabilities;
  /** The account's balance in USD, where the provider has a free endpoint for it (BFL /v1/credits). */
  balanceUsd?(signal: AbortSignal): Promise<number | undefined>;
  /** Sends the paid request. Must not be retried blindly by callers. */
  submit(request: ImageRequest, options: SubmitOptions): Promise<TaskRef>;
  /** Waits for a submitted task and downloads its image at once. Safe to call again on resume. */
  wait(task: TaskRef, options: WaitOptions): Promise<GeneratedImage>;
  /** Present when the provider has a (free) file upload API that turns bytes into a URL it accepts. */
  uploadReference?(image: { bytes: Buffer; mime: ImageAsset['mime']; hash: string }, signal: AbortSignal): Promise<UploadedReference>;
}

/** One account of a provider: its adapter calls with that account's key (which stays in the adapter). */
export interface ProviderAccountRef {
  /** Shown in the ledger, events and the editor. Never the key. */
  name: string;
  provider: Provider;
}

export interface ProviderSet {
  get(id: string): Provider | undefined;
  ids(): string[];
  /** The provider used when neither node, pipeline nor run chose one. */
  defaultId: string;
  /**
   * The provider's accounts (`BFL_API_KEYS=teamA:<key>,teamB:<key>`), each with its own adapter
   * and its own cap. Absent (or empty): `get(id)` is the provider's only account, unnamed.
   */
  accounts?(id: string): readonly ProviderAccountRef[];
}
