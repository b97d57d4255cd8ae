/**
 * A local S3-compatible server (s3rver) on loopback for the bucket tests, with the environment
 * that points the AWS SDK at it: explicit test credentials and no cloud metadata lookups.
 */
import { rmSync } from 'node:fs';
import S3rver from 's3rver';
import { tempDir } from './tmp';

export interface LocalS3 {
  endpoint: string;
  /** s3rver keeps objects as files here: `<dir>/<bucket>/<key>._S3rver_object`. */
  dir: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalS3(bucket: string): Promise<LocalS3> {
  const dir = tempDir('fluxgraph-s3-');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    dir,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_EC2_METADATA_DISABLED: 'true',
      FLUXGRAPH_S3_PATH_STYLE: '1',
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
