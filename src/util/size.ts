/**
 * Sizes as people write them (`512`, `10K`, `1.5G`, `2TiB`, `unlimited`) and as Coffer prints them
 * (`10.0 MiB`). Every suffix is a power of 1024, whichever spelling is used (K, KB, KiB), because
 * quotas and `df -h` in OpenSSH's sftp both count in powers of 1024.
 */

/** A byte count, or null for "unlimited". */
export type Size = number | null;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;
const POWERS: Record<string, number> = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4, p: 5 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(?:i?b)?|(b))?$/i;

/** Thrown by parseSize; the message says what was wrong and what is accepted. */
export class SizeError extends Error {
  readonly code = 'COFFER_BAD_SIZE';
}

/**
 * Parses a size: a whole or decimal number with an optional unit (B, K, M, G, T, P, each also as
 * KB or KiB; case-insensitive), or `unlimited` (null). Fractions of a byte round down. Refuses
 * negative numbers, empty text and anything above Number.MAX_SAFE_INTEGER bytes.
 */
export function parseSize(text: string): Size {
  const t = text.trim();
  if (/^unlimited$/i.test(t)) return null;
  const m = SIZE_RE.exec(t);
  if (t.length > 40 || !m) {
    throw new SizeError(`bad size '${text}' (use a number with an optional K, M, G, T suffix, e.g. 10M, 1.5G, or 'unlimited')`);
  }
  const unit = (m[2] ?? m[3] ?? '').toLowerCase();
  const bytes = Math.floor(Number(m[1]) * 1024 ** (POWERS[unit] ?? 0));
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`size '${text}' is too large`);
  return bytes;
}

/** Prints bytes with one decimal in IEC units (`0 B`, `512 B`, `10.0 MiB`); null prints `unlimited`. */
export function formatSize(bytes: Size): string {
  if (bytes === null) return 'unlimited';
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
