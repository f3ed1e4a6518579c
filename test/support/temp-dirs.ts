/**
 * Temporary folders for tests, removed when the test process exits (node:test runs each test
 * file in a process of its own, and the deployment script is one process too), so a run leaves
 * nothing in the temp folder even where a test's own cleanup does not cover a folder. Servers a
 * test started are stopped by its after() hooks before that.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

function removeAll(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort: a folder still in use by a process that did not stop is left */
    }
  }
}

function track(dir: string): string {
  if (made.size === 0) process.once('exit', removeAll);
  made.add(dir);
  return dir;
}

/** A new folder under the temp folder, named PREFIX + random characters. */
export async function tempDir(prefix: string): Promise<string> {
  return track(await mkdtemp(join(tmpdir(), prefix)));
}

/** tempDir(), synchronously. */
export function tempDirSync(prefix: string): string {
  return track(mkdtempSync(join(tmpdir(), prefix)));
}

/**
 * Removes a folder tempDir() or tempDirSync() made, now, and forgets it (a process that makes
 * thousands of them, the fuzzer, keeps only the ones still in use for the exit).
 */
export function removeTempDir(dir: string): void {
  made.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
