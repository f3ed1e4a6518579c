/**
 * V8 heap tuning for a process that receives bulk data (the server sets it at start; the
 * client's downloads had 4 full collections per 512 MiB without it, so it does not).
 *
 * Every 64 KiB socket read is a fresh ArrayBuffer, so a 512 MiB upload allocates about 800 MiB
 * of buffers that die at once. V8 counts them towards the old generation's allocation limit,
 * which it sets at about three times the live heap: with Coffer's ~8 MB heap, a full
 * mark-compact every ~16 MB received. Measured on a 512 MiB upload (research machine, 2 cores):
 * 40 mark-compacts and ~0.3 s of the server's main thread in GC, against 4 mark-compacts with
 * a growing factor of 5 (the dead buffers then go with cheap scavenges).
 *
 * Contract: call once, early. It only changes how far the heap may grow past its live size
 * before a full collection (the memory reducer still shrinks it when idle; the maximum heap
 * size is unchanged). `--heap-growing-percent` is read by V8 at every collection, so setting it
 * after start-up takes effect (unlike the initial heap size flags).
 */
import v8 from 'node:v8';

/** The old generation may grow to 5x its live size between full collections (V8 picks ~3x). */
export const HEAP_GROWING_PERCENT = 400;

export function tuneHeapForBulkData(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
