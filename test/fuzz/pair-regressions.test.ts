/**
 * Findings of the fuzzer's two-process mode (pair.ts), each replaying the shrunk pair fast-check
 * reported, with every invariant strict. They are races between the two engines, so each pair is
 * replayed many times (before their fixes they failed in 5-25 % of replays). A finding whose bug
 * is still in src/ is `todo` (and in KNOWN_FINDINGS) until fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Sequence } from './arbitraries.js';
import { pairFromFinding, runPair } from './pair.js';

/** A pair kept under test/fuzz/regression-pairs/ (too long to write out here). */
const savedPair = (name: string): [Sequence, Sequence] =>
  pairFromFinding(readFileSync(new URL(`../../../test/fuzz/regression-pairs/${name}`, import.meta.url), 'utf8'));

const SETUP: Sequence['setup'] = {
  aSize: 0,
  bSize: 0,
  quotaSlack: 0,
  entrySlack: 0,
  symlinks: false,
  maxHandles: 1,
  highWaterMark: 1,
  slowWrites: false,
  init: { version: 3, trailing: Uint8Array.from([]), muts: [] },
};

/** Runs the pair `times` times and returns the distinct violations with how often each came. */
async function replay(a: Sequence, b: Sequence, times: number): Promise<string[]> {
  const seen = new Map<string, number>();
  for (let i = 0; i < times; i++) for (const v of new Set(await runPair(a, b, { timeoutMs: 10_000, strict: true }))) seen.set(v, (seen.get(v) ?? 0) + 1);
  return [...seen].map(([v, n]) => `${v} (x${n}/${times})`);
}

// Pair finding 1 (seed 1971231566): A OPENs dir/b.bin for reading (the packet twice) while B
// REMOVEs it. When B's unlink lands between A's open(2) and its fstat, A sees nlink 0 and
// LocalVfs.opened() registers the file as deleted outside Coffer (UserQuota.open(..., unlinked):
// detached, "never credited"), so A's last close credits its entry and size; but B's removal
// credited them already (its credit was applied: A's inode was not yet registered in the store,
// that happens with A's next settle). The store ended one entry (and the file's size) under the
// disk, and sure, so no recount corrected it. Fixed in UserQuota.close(): with a store, a file
// found unlinked at open is not credited at its last close; the usage is marked unsure instead.
test('pair finding 1: an OPEN racing another process\'s REMOVE does not credit the file twice', async () => {
  const a: Sequence = {
    setup: SETUP,
    batches: [
      [{ t: 'mut', id: 'auto', req: { kind: 'open', path: 'link-dir/b.bin', pflags: 1, attrs: { size: 0, extended: [] } }, muts: [{ m: 'dup' }] }],
      [{ t: 'req', id: 'auto', req: { kind: 'lstat', path: '' } }],
    ],
    chunks: [],
    end: 'eof',
  };
  const b: Sequence = {
    setup: SETUP,
    batches: [
      [
        { t: 'req', id: 'auto', req: { kind: 'remove', path: 'dir/b.bin' } },
        { t: 'req', id: 'auto', req: { kind: 'readlink', path: '/' } },
      ],
      [{ t: 'req', id: 'auto', req: { kind: 'read', handle: { ref: 0 }, offset: 65536, length: 4294967295 } }],
    ],
    chunks: [],
    end: 'eof',
  };
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 2 (seed 1971231582): A RENAMEs a.txt (as "a.txt/.") to "\[x\]" while B
// posix-renames a.txt away. RENAME is link(from, to) + unlink(from) for a regular file; B's
// rename(2) landed between the two, A's unlink failed (ENOENT) and its new link stayed: one more
// entry in the home than either process counted, over the entry limit. Fixed in
// LocalVfs.renameNoClobber: a failed unlink takes back the link (if it is still the same inode).
test('pair finding 2: a RENAME whose source another process moved away leaves no uncounted name', async () => {
  const a: Sequence = {
    setup: SETUP,
    batches: [[{ t: 'req', id: 'auto', req: { kind: 'rename', oldPath: 'a.txt/.', newPath: '\\[x\\]' } }]],
    chunks: [1],
    end: 'eof',
  };
  const b: Sequence = {
    setup: SETUP,
    batches: [
      [{ t: 'req', id: 'auto', req: { kind: 'posix-rename', oldPath: 'a.txt', newPath: '\u{6930f}' } }],
      [{ t: 'req', id: 'auto', req: { kind: 'posix-rename', oldPath: 'top.txt', newPath: '~/../..' } }],
    ],
    chunks: [],
    end: 'eof',
  };
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 3 (seed 159963542): A posix-renames the link `abs` onto dir/b.bin while B REMOVEs
// dir/b.bin. A's replacing rename (UserQuota.leaving) lstats dir/b.bin (the file), B unlinks the
// file and credits it, then A's rename(2) moves the link to the now free name and A credits the
// file its lstat saw, a second time. The namespace lock (UserQuota.serial) that keeps a lstat and
// its act together is per process; the store applies both credits (no process has the inode
// open), so the usage ended one entry (and the file's size) under the disk, sure. Fixed in the
// store: an applied credit is remembered (a `c:` inode row, CREDIT_RETAIN_MS); a second credit of
// that inode from another process is refused and marks the user unsure (recounted when quiet).
test('pair finding 3: a REMOVE and a replacing posix-rename of one name in two processes credit the file once', async () => {
  const a: Sequence = {
    setup: SETUP,
    batches: [
      [
        { t: 'req', id: 'auto', req: { kind: 'posix-rename', oldPath: 'abs', newPath: 'dir//b.bin' } },
        { t: 'req', id: 'auto', req: { kind: 'fstat', handle: { ref: 0 } } },
      ],
      [{ t: 'req', id: 'auto', req: { kind: 'open', path: 'a.txt', pflags: 0, attrs: { permissions: 0, atime: 0 } } }],
    ],
    chunks: [],
    end: 'eof',
  };
  const b: Sequence = {
    setup: SETUP,
    batches: [
      [{ t: 'req', id: 'auto', req: { kind: 'remove', path: 'dir/b.bin' } }],
      [{ t: 'rawpath', id: 'auto', type: 3, path: Uint8Array.from([192, 174, 192, 174, 47, 116, 111, 112]), tail: Uint8Array.from([]) }],
    ],
    chunks: [],
    end: 'eof',
  };
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 8 (seed 1998219139): A opened dir/b.bin (70000 bytes) and truncates it to 1; B
// opened it with TRUNC (to 0). B's credit (70000) landed first; A's (69999) was refused (B had
// credited the inode) while A's ftruncate(1) reached the disk last: the store counted 0 bytes for
// a file of 1. A refused credit now charges the size the file keeps (Credit.keeps).
test('pair finding 8: truncates of one file in two processes never leave the store under the disk', async () => {
  const [a, b] = [{"setup":{"aSize":0,"bSize":70000,"quotaSlack":0,"entrySlack":0,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":"auto","req":{"kind":"open","path":"dir/b.bin","pflags":11,"attrs":{}}},{"t":"req","id":"auto","req":{"kind":"remove","path":"a.txt"}}],[{"t":"req","id":"auto","req":{"kind":"fsetstat","handle":{"ref":0},"attrs":{"size":1}}}]],"chunks":[],"end":"eof"},{"setup":{"aSize":0,"bSize":0,"quotaSlack":0,"entrySlack":0,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":"auto","req":{"kind":"open","path":"dir/b.bin","pflags":16,"attrs":{}}},{"t":"req","id":"auto","req":{"kind":"expand-path","path":"a.txt"}}],[{"t":"req","id":"auto","req":{"kind":"close","handle":{"ref":0}}},{"t":"req","id":"auto","req":{"kind":"rename","oldPath":".","newPath":""}}],[{"t":"req","id":"auto","req":{"kind":"open","path":"../../top.txt","pflags":42,"attrs":{}}}],[{"t":"req","id":"auto","req":{"kind":"open","path":"","pflags":0,"attrs":{"mtime":4095}}}]],"chunks":[],"end":"eof"}] as unknown as [Sequence, Sequence];
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 9 (seed 2053692014): A opened a.txt (0 bytes) read-write; B REMOVEd it; A wrote a
// byte and closed. A settled first (its inode open, touched, closed: all before B's credit
// reached the store), then B's credit, read before A's write, was applied: only a handle open
// *now* in another process blocked a credit. The store counted A's byte of a file no longer on
// the disk, sure. A credit is now refused (usage unsure, recounted) when another process had the
// inode open at or after the time its size was read (Credit.at; store/quota-store.ts).
test('pair finding 9: a write through a handle of another process after a REMOVE read the size is not left charged', async () => {
  const [a, b] = [{"setup":{"aSize":0,"bSize":0,"quotaSlack":10,"entrySlack":0,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":"auto","req":{"kind":"open","path":"/a.txt","pflags":3,"attrs":{"size":0,"uid":0,"gid":0,"permissions":0}}}],[{"t":"req","id":"auto","req":{"kind":"fsync","handle":{"ref":0}}}],[{"t":"req","id":"auto","req":{"kind":"write","handle":{"ref":0},"offset":0,"data":{"bytes":Uint8Array.from([0])}}},{"t":"req","id":"auto","req":{"kind":"fsync","handle":{"raw":Uint8Array.from([54,161,202,210,33,71,184,0])}}}],[{"t":"req","id":"auto","req":{"kind":"check-file-handle","handle":{"raw":Uint8Array.from([62,0,0,0,0,0,0,0])},"algorithms":["md5"],"start":0,"length":0,"blockSize":0,"legacy":false}}]],"chunks":[],"end":"eof"},{"setup":{"aSize":0,"bSize":0,"quotaSlack":0,"entrySlack":0,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":"auto","req":{"kind":"remove","path":"dir/../a.txt"}},{"t":"mut","id":"auto","req":{"kind":"copy-data","readHandle":{"raw":Uint8Array.from([])},"readOffset":0,"readLength":0,"writeHandle":{"ref":0},"writeOffset":0},"muts":[{"m":"flip","at":0,"bit":0}]}]],"chunks":[],"end":"eof"}] as unknown as [Sequence, Sequence];
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 10 (seed 843357857): A creates n2 (CREAT|EXCL) and writes a byte twice at offset 0;
// B opens n2 with TRUNC meanwhile. B's truncate credited the byte it saw while A's write after it
// put the byte back, and A's close had settled before B's credit: before the credit's read time
// (finding 9's rule) it applied and the store counted 0 bytes for a file of 1 (39 of 40 replays
// failed before that rule, none since).
test('pair finding 10: a TRUNC in one process and a write in another leave the store at or over the disk', async () => {
  const [a, b] = [{"setup":{"aSize":0,"bSize":0,"quotaSlack":1000000,"entrySlack":1000,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":0,"req":{"kind":"open","path":"n2","pflags":42,"attrs":{"gid":0,"mtime":0}}},{"t":"mut","id":"auto","req":{"kind":"check-file-name","path":"","algorithms":["md5"],"start":0,"length":0,"blockSize":0},"muts":[{"m":"flip","at":0,"bit":0}]}],[{"t":"req","id":"auto","req":{"kind":"write","handle":{"ref":0},"offset":0,"data":{"bytes":Uint8Array.from([0])}}}],[{"t":"req","id":"auto","req":{"kind":"write","handle":{"ref":0},"offset":0,"data":{"bytes":Uint8Array.from([0])}}}]],"chunks":[],"end":"eof"},{"setup":{"aSize":0,"bSize":0,"quotaSlack":0,"entrySlack":0,"symlinks":false,"maxHandles":1,"highWaterMark":1,"slowWrites":false,"init":{"version":3,"trailing":Uint8Array.from([]),"muts":[]}},"batches":[[{"t":"req","id":"auto","req":{"kind":"open","path":"n2","pflags":26,"attrs":{}}}],[{"t":"req","id":"auto","req":{"kind":"rename","oldPath":"a.txt","newPath":""}}]],"chunks":[],"end":"eof"}] as unknown as [Sequence, Sequence];
  assert.deepEqual(await replay(a, b, 60), []);
});

// Pair finding 11 (seed 843357831, a 113 KB pair; replayed here from its file): A opened a.txt
// through the link `link-in` with TRUNC (4096 bytes credited, the store told first) while B had
// the file open with its idea of the size still 4096: B's writes of 592 bytes below that idea were
// charged nothing, and the store counted 0 for a file of 592 (usage unsure, but under the disk:
// 6 of 150 replays after finding 9's rule, 19 of 40 before; none of 150 since). The last close of a file changed in a
// process now reads its size and settles the difference (FileCharge.close).
test('pair finding 11: writes below a size another process truncated are charged at the last close', async () => {
  const [a, b] = savedPair('pair-843357831.txt');
  assert.deepEqual(await replay(a, b, 100), []);
});

// Pair finding 12 (seed 843357763; its replays did not fail, the race needs the fuzzer's timing):
// A grows a.txt with ftruncate through a write handle while B opens it through `dir/back` with
// TRUNC. When B's open, truncate and close all settle before the store knows A has the file
// open, B's credit of the old size applies; A's ftruncate, charged from A's stale idea of the
// size, then left the store under the disk. A settle that reports an inode another process
// credited lately now adds its charged size of it (Settlement.sizes): over, never under. Kept as
// a replay of the pair (it must not fail) next to the store contract's test of that rule.
test('pair finding 12: a TRUNC in one process while the other grows the file by ftruncate', async () => {
  const [a, b] = savedPair('pair-843357763.txt');
  assert.deepEqual(await replay(a, b, 40), []);
});
