/**
 * Lowers the scheduling priority of the calling thread only (Linux: setpriority on the thread's
 * id, which /proc/thread-self names). For worker threads doing bulk work that can wait, such as
 * the server's check-file hashing: when the cores are all busy, the event loop that serves the
 * sessions runs first and the bulk work takes the time left over, instead of preempting it.
 *
 * Contract: never raises a priority, never throws; returns the thread's new nice value, or null
 * where a thread's priority cannot be set this way (no /proc/thread-self: other systems, old
 * kernels) or the call was refused.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Adds `by` (> 0) to the calling thread's nice value, up to 19. */
export function lowerThreadPriority(by: number): number | null {
  try {
    // "PID/task/TID"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    const now = getPriority(tid);
    const next = Math.min(19, now + Math.max(0, by));
    if (next !== now) setPriority(tid, next);
    return getPriority(tid);
  } catch {
    return null;
  }
}
