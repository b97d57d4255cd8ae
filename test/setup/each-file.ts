/** Per test file: removes the temporary folders its tests made with tempDir(). */
import { afterAll } from 'vitest';
import { removeTempDirs } from '../helpers/tmp';

afterAll(async () => {
  await removeTempDirs();
});
