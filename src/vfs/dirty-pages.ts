/**
 * Whether a small buffered write may run on the event loop (meta-io.ts, the sync flavour).
 *
 * A buffered write to a local filesystem copies into the page cache and returns in microseconds,
 * less than a thread-pool round trip, unless the kernel throttles the writer: once the dirty pages
 * pass the background threshold (vm.dirty_background_ratio/_bytes of the memory that can hold
 * them), balance_dirty_pages() may put a writing thread to sleep for up to 200 ms. On the event
 * loop that would stall every session of the process. Below the background threshold the kernel
 * never throttles, so writes go on the event loop only while the dirty and writeback pages stay
 * under half of it (system-wide and, in a cgroup v2 with a memory limit, in that cgroup, whose
 * writeback is throttled on its own figures); otherwise, and whenever the figures cannot be read,
 * they go to the thread pool as before. The figures are read again at most every REFRESH_MS.
 */
import { readFileSync } from 'node:fs';

/** How often the dirty-page figures are read again (ms). */
export const REFRESH_MS = 250;

/** Bytes of the dirty-page figures of /proc/meminfo (kB there), or null when unreadable. */
export function parseMeminfo(text: string): { dirty: number; writeback: number; available: number } | null {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const dirty = field('Dirty');
  const writeback = field('Writeback');
  const available = field('MemAvailable');
  return dirty === null || writeback === null || available === null ? null : { dirty, writeback, available };
}

/**
 * The kernel's background threshold in bytes: dirty_background_bytes when set, else
 * dirty_background_ratio percent of `dirtyable` (the memory that can hold dirty pages; MemAvailable
 * is a close, slightly smaller, so stricter, estimate of the kernel's figure).
 */
export function backgroundThreshold(ratio: number, bytes: number, dirtyable: number): number {
  return bytes > 0 ? bytes : (dirtyable * ratio) / 100;
}

/** Dirty and writeback bytes of a cgroup v2 memory.stat, or null. */
export function parseMemoryStat(text: string): number | null {
  const dirty = /^file_dirty (\d+)$/m.exec(text);
  const writeback = /^file_writeback (\d+)$/m.exec(text);
  return dirty && writeback ? Number(dirty[1]) + Number(writeback[1]) : null;
}

/** The cgroup v2 folder of this process ("0::/path" of /proc/self/cgroup), or null. */
export function cgroupV2Dir(procSelfCgroup: string): string | null {
  const m = /^0::(\/.*)$/m.exec(procSelfCgroup);
  return m ? `/sys/fs/cgroup${m[1] === '/' ? '' : m[1]}` : null;
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** Reads the figures now: true when a small write may run on the event loop. */
export function measureWriteOnLoop(): boolean {
  const mem = parseMeminfo(read('/proc/meminfo') ?? '');
  const ratio = Number(read('/proc/sys/vm/dirty_background_ratio')?.trim());
  const bytes = Number(read('/proc/sys/vm/dirty_background_bytes')?.trim());
  if (!mem || !Number.isFinite(ratio) || !Number.isFinite(bytes)) return false;
  if (mem.dirty + mem.writeback >= backgroundThreshold(ratio, bytes, mem.available) / 2) return false;
  const dir = cgroupV2Dir(read('/proc/self/cgroup') ?? '');
  if (dir === null) return true;
  const max = read(`${dir}/memory.max`)?.trim();
  if (max === undefined || max === 'max') return true;
  const used = parseMemoryStat(read(`${dir}/memory.stat`) ?? '');
  // A cgroup's threshold is the same ratio of its own memory (the limit is an upper bound on it).
  return used !== null && used < backgroundThreshold(ratio, bytes, Number(max)) / 2;
}

let onLoop = false;
let measuredAt = -Infinity;
let forced: boolean | null = null;

/**
 * True while small writes may run on the event loop: the figures as read at most REFRESH_MS ago
 * (read again by the first call after that, a few procfs reads: tens of microseconds, four
 * times a second at most, and never while the server is idle).
 */
export function writeOnLoop(now: number = Date.now()): boolean {
  if (forced !== null) return forced;
  if (now - measuredAt >= REFRESH_MS) {
    onLoop = measureWriteOnLoop();
    measuredAt = now;
  }
  return onLoop;
}

/** For tests: forces the answer (null: measured again from the next call). */
export function forceWriteOnLoop(value: boolean | null): void {
  forced = value;
  measuredAt = -Infinity;
}
