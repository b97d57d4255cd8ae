/**
 * Result image URLs, like BFL's delivery hosts (Azure SAS) and the resellers' presigned S3 URLs:
 * signed, and refused with 403 once expired.
 */
import type { ServerResponse } from 'node:http';
import type { Reply } from './http';
import type { RequestContext } from './protocol';
import type { ProviderName } from './types';
import { PROVIDER_NAMES } from './types';

const DELIVERY_PATH = /^\/delivery\/([a-z]+)\/([0-9a-f]+)\/([\w.-]+)$/;

export function deliveryProvider(pathname: string): ProviderName | undefined {
  const m = DELIVERY_PATH.exec(pathname);
  return m && (PROVIDER_NAMES as readonly string[]).includes(m[1]) ? (m[1] as ProviderName) : undefined;
}

function xml(status: number, code: string, message: string, extra = ''): Reply {
  return {
    status,
    body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message>${extra}</Error>`,
    headers: { 'content-type': 'application/xml' },
  };
}

/** What an expired link answers: Azure's SAS error for BFL, S3's for the resellers. */
export function expiredReply(provider: ProviderName, expiresAt: number): Reply {
  const se = new Date(expiresAt).toISOString();
  if (provider === 'bfl') {
    return xml(
      403,
      'AuthenticationFailed',
      'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
      `<AuthenticationErrorDetail>Signed expiry time [${se}] must be after current time [${new Date().toISOString()}]</AuthenticationErrorDetail>`,
    );
  }
  return xml(403, 'AccessDenied', 'Request has expired', `<Expires>${se}</Expires>`);
}

function notFound(provider: ProviderName): Reply {
  return provider === 'bfl'
    ? xml(404, 'BlobNotFound', 'The specified blob does not exist.')
    : xml(404, 'NoSuchKey', 'The specified key does not exist.');
}

function sendImage(res: ServerResponse, bytes: Buffer, mime: string, truncate: boolean): void {
  res.writeHead(200, { 'content-type': mime, 'content-length': bytes.length, 'cache-control': 'private, max-age=600' });
  if (!truncate) {
    res.end(bytes);
    return;
  }
  // Headers promise the full length; the body stops halfway, as a connection reset mid-download does.
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => {
    res.socket?.destroy();
  });
}

/** BFL's SAS and novita's presigned query are signed; kie's and crun's plain paths carry none. */
function signatureHolds(ctx: RequestContext, provider: ProviderName, token: string): boolean {
  const q = ctx.url.searchParams;
  if (provider === 'bfl') return q.get('sig') === ctx.state.deliverySignature(token, q.get('se') ?? '');
  if (provider === 'novita') return q.get('X-Amz-Signature') === ctx.state.deliverySignature(token, `${q.get('X-Amz-Date') ?? ''}\n${q.get('X-Amz-Expires') ?? ''}`);
  return true;
}

export async function handleDelivery(ctx: RequestContext): Promise<Reply | null> {
  const { state } = ctx;
  const m = DELIVERY_PATH.exec(ctx.url.pathname)!;
  const provider = m[1] as ProviderName;
  const task = state.tasks.findByDeliveryToken(m[2]);
  if (!task?.delivery || task.provider !== provider) return notFound(provider);
  if (!signatureHolds(ctx, provider, m[2])) {
    return xml(403, provider === 'bfl' ? 'AuthenticationFailed' : 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  }
  const extra = state.faults.downloadExtra(provider);
  if (extra.expired) state.stats.data.injected.download.expired++;
  if (extra.expired || state.now() > task.delivery.expiresAt) return expiredReply(provider, task.delivery.expiresAt);
  const image = await state.resultImage(task);
  if (!image) return expiredReply(provider, task.delivery.expiresAt);
  if (extra.truncate) state.stats.data.injected.download.truncate++;
  sendImage(ctx.res, image.bytes, image.mime, extra.truncate);
  return null;
}

/** Injected download faults, in the storage services' shapes. */
export function deliveryFault(kind: 'rate429' | 'error5xx', status: number, retryAfterSec = 1): Reply {
  if (kind === 'rate429') {
    const r = xml(429, 'SlowDown', 'Please reduce your request rate.');
    return { ...r, headers: { ...r.headers, 'retry-after': String(retryAfterSec) } };
  }
  return xml(status, status === 503 ? 'ServerBusy' : 'InternalError', 'We encountered an internal error. Please try again.');
}
