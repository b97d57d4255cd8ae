/** A real file store whose writes fail past a given number of bytes, as a full disk does (ENOSPC). */
import { FileArtifactStore } from '../../engine/store/artifacts';

export class QuotaStore extends FileArtifactStore {
  written = 0;

  constructor(root: string, private readonly limitBytes: number) {
    super(root);
  }

  override async put(bytes: Buffer): Promise<string> {
    if (this.written + bytes.length > this.limitBytes) {
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${this.root}'`), { code: 'ENOSPC', errno: -28 });
    }
    this.written += bytes.length;
    return super.put(bytes);
  }
}
