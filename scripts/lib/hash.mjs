// sha256 of files and buffers, as lowercase hex.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of bytes in memory. */
export function sha256Hex(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file's content, read in 4 MiB chunks. */
export async function sha256File(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk);
  return h.digest('hex');
}
