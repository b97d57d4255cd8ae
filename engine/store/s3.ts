/**
 * One S3 module for every S3-compatible store fluxgraph talks to (AWS S3, Cloudflare R2,
 * Backblaze B2, Ceph, Garage, SeaweedFS): the reference bucket of issue 10
 * (FLUXGRAPH_REFERENCE_BUCKET) and team mode's shared store (FLUXGRAPH_STORE, scale-out.md).
 * Configured the standard way: `s3://bucket/prefix`, `AWS_REGION`, `AWS_ENDPOINT_URL_S3` (or
 * `AWS_ENDPOINT_URL`), `FLUXGRAPH_S3_PATH_STYLE=1` for stores without virtual-host buckets;
 * credentials from the AWS environment and credential chain only, never from a pipeline file.
 * The SDK is loaded on first use, so runs without a bucket never load it.
 */
import { EngineError } from '../core/errors';

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slashes ('' for the bucket root). */
  prefix: string;
}

export interface S3Settings {
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Keys given in fluxgraph's environment (a .env file included); absent: the SDK's own chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function parseS3Url(url: string, envName = 'FLUXGRAPH_REFERENCE_BUCKET'): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url.trim());
  if (!m) throw new EngineError('usage', `${envName}=${url}: expected s3://bucket/prefix (a bucket name of 3 to 63 lower-case letters, digits, dots and dashes)`);
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

export function s3SettingsFromEnv(env: Record<string, string | undefined>): S3Settings {
  const v = (name: string) => env[name]?.trim() || undefined;
  const endpoint = v('AWS_ENDPOINT_URL_S3') ?? v('AWS_ENDPOINT_URL');
  if (endpoint && !/^https?:\/\/[^/]/i.test(endpoint)) throw new EngineError('usage', `AWS_ENDPOINT_URL_S3=${endpoint}: expected an http(s) URL`);
  const accessKeyId = v('AWS_ACCESS_KEY_ID');
  const secretAccessKey = v('AWS_SECRET_ACCESS_KEY');
  const sessionToken = v('AWS_SESSION_TOKEN');
  return {
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    // Stores other than AWS accept any region name in the signature; R2 documents "auto".
    region: v('AWS_REGION') ?? v('AWS_DEFAULT_REGION') ?? (endpoint ? 'auto' : 'us-east-1'),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: /^(1|true|yes|on)$/i.test(v('FLUXGRAPH_S3_PATH_STYLE') ?? ''),
  };
}

/** A prefix of a bucket, with the few operations fluxgraph needs. Keys are relative to the prefix. */
export interface S3ObjectStore {
  /** `s3://bucket/prefix`, for messages. */
  readonly location: string;
  /** `sha256`: hex of the bytes; the store then checks them on arrival (ChecksumSHA256). */
  put(key: string, bytes: Buffer, contentType: string, sha256?: string): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  /** A GET URL anyone can use until it expires (SigV4 presigned, at most 7 days). */
  presignGet(key: string, ttlSec: number): Promise<string>;
  close(): void;
}

type Sdk = typeof import('@aws-sdk/client-s3');
type Presigner = typeof import('@aws-sdk/s3-request-presigner');

let sdk: Promise<[Sdk, Presigner]> | undefined;
function loadSdk(): Promise<[Sdk, Presigner]> {
  // The SDK is pinned to a version that runs on Node 20; its warning that later versions will
  // not would only confuse a user who cannot act on it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
  return sdk;
}

/** Opens the store lazily: nothing is loaded or sent until the first operation. */
export function s3Store(url: string, env: Record<string, string | undefined>, envName?: string): S3ObjectStore {
  const loc = parseS3Url(url, envName);
  const settings = s3SettingsFromEnv(env);
  const location = `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
  const fullKey = (key: string) => (loc.prefix ? `${loc.prefix}/${key}` : key);
  let client: Promise<{ s3: InstanceType<Sdk['S3Client']>; mod: Sdk; presigner: Presigner }> | undefined;
  const open = () =>
    (client ??= loadSdk().then(([mod, presigner]) => ({
      mod,
      presigner,
      s3: new mod.S3Client({
        region: settings.region,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
        forcePathStyle: settings.forcePathStyle,
        ...(settings.credentials ? { credentials: settings.credentials } : {}),
        // With the SDK's default checksums, S3-compatible stores that do not know them keep a
        // streamed upload with its chunk framing; only send checksums where S3 requires one.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    })));
  const fail = (what: string, e: unknown): EngineError => {
    const name = (e as { name?: string }).name ?? 'Error';
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const hint = name === 'CredentialsProviderError' ? '; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)' : '';
    return new EngineError('io', `${location}: ${what} failed (${name}${status ? `, HTTP ${status}` : ''})${hint}`, { retryable: status === undefined || status >= 500 }, { cause: e });
  };
  return {
    location,
    async put(key, bytes, contentType, sha256) {
      const { s3, mod } = await open();
      try {
        const checksum = sha256 ? { ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64') } : {};
        await s3.send(new mod.PutObjectCommand({ Bucket: loc.bucket, Key: fullKey(key), Body: bytes, ContentType: contentType, ContentLength: bytes.length, ...checksum }));
      } catch (e) {
        throw fail(`upload of ${key}`, e);
      }
    },
    async get(key) {
      const { s3, mod } = await open();
      try {
        const out = await s3.send(new mod.GetObjectCommand({ Bucket: loc.bucket, Key: fullKey(key) }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (e) {
        if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
        throw fail(`download of ${key}`, e);
      }
    },
    async exists(key) {
      const { s3, mod } = await open();
      try {
        await s3.send(new mod.HeadObjectCommand({ Bucket: loc.bucket, Key: fullKey(key) }));
        return true;
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (e as { name?: string }).name === 'NotFound') return false;
        throw fail(`lookup of ${key}`, e);
      }
    },
    async presignGet(key, ttlSec) {
      const { s3, mod, presigner } = await open();
      try {
        return await presigner.getSignedUrl(s3, new mod.GetObjectCommand({ Bucket: loc.bucket, Key: fullKey(key) }), { expiresIn: Math.max(1, Math.min(Math.round(ttlSec), 7 * 24 * 3600)) });
      } catch (e) {
        throw fail(`signing a link to ${key}`, e);
      }
    },
    close() {
      void client?.then((c) => c.s3.destroy()).catch(() => undefined);
    },
  };
}
