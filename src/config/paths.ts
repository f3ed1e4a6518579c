/**
 * The state layout of SPEC §3. This is the only module that knows where keys, the database and the
 * homes live under the state root.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where each kind of state lives under one root. */
export interface StatePaths {
  root: string;
  keysDir: string;
  dbDir: string;
  dbFile: string;
  homesDir: string;
  defaultConfigFile: string;
}

/** The state paths under `root` (made absolute). */
export function statePaths(root: string): StatePaths {
  const abs = resolve(root);
  return {
    root: abs,
    keysDir: join(abs, 'keys'),
    dbDir: join(abs, 'db'),
    dbFile: join(abs, 'db', 'coffer.db'),
    homesDir: join(abs, 'homes'),
    defaultConfigFile: join(abs, 'coffer.json'),
  };
}

/** The home folder of a user whose name already passed validateUserName. */
export function homeDir(paths: StatePaths, user: string): string {
  return join(paths.homesDir, user);
}

let cachedProjectRoot: string | undefined;

/**
 * The project folder (the one holding Coffer's package.json): the default state root. Found by
 * walking up from this file, so it is the same from src/ (tsx) and dist/src/ (built).
 */
export function projectRoot(): string {
  if (cachedProjectRoot) return cachedProjectRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'coffer') {
      cachedProjectRoot = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find Coffer's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Coffer's version, from package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
