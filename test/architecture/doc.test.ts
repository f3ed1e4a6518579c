/**
 * docs/ARCHITECTURE.md is kept true to the code (issue 21 item 4): every file under src/ is named
 * in it by its path relative to src/ (`vfs/jail.ts`; a bare `jail.ts` does not count), and every
 * such path it names exists. The failure messages list exactly the offending paths.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const SRC = new URL('../../../src/', import.meta.url).pathname;
const DOC_PATH = new URL('../../../docs/ARCHITECTURE.md', import.meta.url).pathname;

/** Every .ts file under src/, relative to src/, in sorted order. */
function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

/** The top-level folders of src/ (cli, client, sftp ...): a doc path naming a file starts with one. */
function layers(): string[] {
  return readdirSync(SRC, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The src/ files the document names (optionally prefixed `src/`), relative to src/. */
export function namedPaths(doc: string, layerNames: readonly string[]): Set<string> {
  const re = new RegExp(`(?<![\\w./-])(?:src/)?((?:${layerNames.map(escape).join('|')})/[\\w./-]*?\\.ts)(?![\\w-])`, 'g');
  return new Set([...doc.matchAll(re)].map((m) => m[1]!));
}

/** The files missing from the doc, and the doc's paths that name no file. */
export function checkDoc(doc: string, files: readonly string[], layerNames: readonly string[]): { missing: string[]; stale: string[] } {
  const named = namedPaths(doc, layerNames);
  const existing = new Set(files);
  return {
    missing: files.filter((f) => !named.has(f)),
    stale: [...named].filter((p) => !existing.has(p)).sort(),
  };
}

describe('docs/ARCHITECTURE.md names every file of src/', () => {
  const doc = readFileSync(DOC_PATH, 'utf8');
  const { missing, stale } = checkDoc(doc, sourceFiles(), layers());

  it('every file under src/ is named by its path relative to src/', () => {
    if (missing.length > 0) assert.fail(`not named in docs/ARCHITECTURE.md:\n${missing.join('\n')}`);
  });

  it('every src/ path the document names exists', () => {
    if (stale.length > 0) assert.fail(`named in docs/ARCHITECTURE.md but not in src/:\n${stale.join('\n')}`);
  });

  it('the check itself: bare names and other trees do not count; a removed file is stale', () => {
    const doc = 'vfs/jail.ts, `src/sftp/packets/open.ts`. jail.ts test/vfs/memory-vfs.ts util/gone.ts.';
    const files = ['sftp/packets/open.ts', 'vfs/jail.ts', 'vfs/memory-vfs.ts'];
    assert.deepEqual(checkDoc(doc, files, ['sftp', 'util', 'vfs']), { missing: ['vfs/memory-vfs.ts'], stale: ['util/gone.ts'] });
  });
});
