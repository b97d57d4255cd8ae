import type { DeliveredReference } from './references';

/** The kinds of values that travel along edges. An edge connects ports of the same kind. */
export type PortKind = 'text' | 'image';

export const PORT_KINDS: readonly PortKind[] = ['text', 'image'];

export interface InputPort {
  kind: PortKind;
  /** Validation fails when nothing is connected. */
  required?: boolean;
  /** Accepts several edges and list outputs; the node receives an array. */
  multiple?: boolean;
  /** Most items a `multiple` input takes (e.g. 8 reference images). */
  max?: number;
  description?: string;
}

export interface OutputPort {
  kind: PortKind;
  /** Produces a list of items that stream downstream one by one. */
  list?: boolean;
  /**
   * A row source's list (prompt-list, image-folder): into a single-valued input or into a
   * `multiple` input as its only edge, it iterates (one call per item) instead of aggregating.
   */
  iterates?: boolean;
  description?: string;
}

export type InputPorts = Record<string, InputPort>;
export type OutputPorts = Record<string, OutputPort>;

/**
 * An image as it travels between nodes: bytes live in the artifact store under `hash`
 * (sha-256 hex), never in memory or in events.
 */
export interface ImageAsset {
  hash: string;
  mime: 'image/jpeg' | 'image/png' | 'image/webp';
  width: number;
  height: number;
  /** Where it came from, for sidecars and the editor. */
  meta?: ImageMeta;
}

export interface ImageMeta {
  nodeId?: string;
  seed?: number;
  provider?: string;
  model?: string;
  taskId?: string;
  /** USD, as reported (or computed from credits) by the provider. */
  costUsd?: number;
  /** The provider reported no cost: `costUsd` comes from the pricing table. */
  costEstimated?: boolean;
  /** Hashes of the images this one was made from (references, refine input). */
  sourceHashes?: string[];
  /** How each reference reached a URL-only provider (route and host; never a signed query). */
  referenceDelivery?: DeliveredReference[];
  /** A public URL this image is also available at (a user-given reference URL). */
  url?: string;
  /** Original file name or URL of a reference image. */
  source?: string;
  prompt?: string;
  warnings?: string[];
  cached?: boolean;
}

export type PortValue<K extends PortKind> = K extends 'text' ? string : K extends 'image' ? ImageAsset : never;

export function canConnect(from: OutputPort, to: InputPort): boolean {
  return from.kind === to.kind;
}
