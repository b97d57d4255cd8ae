/** The one S3 module (engine/store/s3.ts) against a local S3-compatible server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseS3Url, s3SettingsFromEnv, s3Store, type S3ObjectStore } from '../../engine/store/s3';
import { startLocalS3, type LocalS3 } from '../helpers/s3-server';

// Never let the SDK look for cloud credentials on a metadata address.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

let s3: LocalS3;
let store: S3ObjectStore;
beforeAll(async () => {
  s3 = await startLocalS3('refs');
  store = s3Store('s3://refs/team/a', s3.env);
});
afterAll(async () => {
  store.close();
  await s3.close();
});

describe('S3 store', () => {
  it('parses s3://bucket/prefix and the standard settings', () => {
    expect(parseS3Url('s3://my-bucket/some/prefix/')).toEqual({ bucket: 'my-bucket', prefix: 'some/prefix' });
    expect(parseS3Url('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(() => parseS3Url('https://my-bucket/x')).toThrow(/expected s3:\/\/bucket\/prefix/);
    expect(s3SettingsFromEnv({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000', FLUXGRAPH_S3_PATH_STYLE: '1' })).toEqual({ region: 'auto', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
    expect(s3SettingsFromEnv({ AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' })).toEqual({ region: 'eu-west-1', forcePathStyle: false, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  });

  it('stores bytes exactly (no chunk framing) under the prefix and reads them back', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    expect(await store.exists('x.bin')).toBe(false);
    await store.put('x.bin', bytes, 'application/octet-stream');
    expect(await store.exists('x.bin')).toBe(true);
    expect((await store.get('x.bin'))!.equals(bytes)).toBe(true);
    expect(await store.get('missing.bin')).toBeUndefined();
  });

  it('hands out presigned GET URLs that work until they expire', async () => {
    await store.put('y.png', Buffer.from('image bytes'), 'image/png');
    const url = await store.presignGet('y.png', 4);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/refs\/team\/a\/y\.png\?.*X-Amz-Expires=4/);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).toString()).toBe('image bytes');
    await new Promise((r) => setTimeout(r, 5000));
    expect((await fetch(url)).status).toBe(403);
  });
});
