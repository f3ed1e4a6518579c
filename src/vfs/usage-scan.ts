/**
 * Counts a home folder's usage from disk: the sum of the sizes (st_size, so `du -b
 * --apparent-size`) of the regular files below it, and the number of entries (every name). It lstats every entry and never follows a
 * symlink, and it walks with an explicit stack, so a deep tree cannot overflow the call stack.
 */
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';

/** What a scan found. */
export interface UsageCount {
  bytes: number;
  files: number;
  dirs: number;
  /** Every name below the root: files, folders, links and anything else (the entry count). */
  entries: number;
  /** Entries that vanished or could not be read during the scan (counted as nothing). */
  skipped: number;
}

/**
 * Scans `root` (a folder) and returns the usage below it; a missing root counts as empty. Regular
 * files for which `skip(dev, ino)` is true are left out (the quota ledger counts those itself).
 */
export async function countUsage(root: string, skip?: (dev: number, ino: number) => boolean): Promise<UsageCount> {
  const count: UsageCount = { bytes: 0, files: 0, dirs: 0, entries: 0, skipped: 0 };
  const top = await lstat(root).catch(() => null);
  if (!top?.isDirectory()) return count;
  const stack = [root];
  const linked = new Set<string>(); // inodes with several names are counted once, as du does
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let handle;
    try {
      handle = await opendir(dir, { bufferSize: 128 });
    } catch {
      count.skipped += 1;
      continue;
    }
    for await (const entry of handle) {
      const path = join(dir, entry.name);
      const st = await lstat(path).catch(() => null);
      if (st) count.entries += 1;
      if (!st) count.skipped += 1;
      else if (st.isFile()) {
        if (skip?.(st.dev, st.ino)) continue;
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (linked.has(key)) continue;
          linked.add(key);
        }
        count.bytes += st.size;
        count.files += 1;
      } else if (st.isDirectory()) {
        count.dirs += 1;
        stack.push(path);
      }
    }
  }
  return count;
}
