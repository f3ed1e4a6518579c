/**
 * The order in which `coffer` tries to log in (SPEC §6): the key of `-i`, else the usual
 * ~/.ssh/id_* keys and the SSH agent, then a password: COFFER_PASSWORD, or asked on a terminal
 * (three tries, as OpenSSH's NumberOfPasswordPrompts). keyboard-interactive gets the same password.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2, { type AnyAuthMethod, type AuthenticationType, type AuthHandlerMiddleware, type ParsedKey } from 'ssh2';
import { ClientError } from './errors.js';

/** Where credentials come from. */
export interface AuthSources {
  username: string;
  host: string;
  /** `-i FILE`, or null for the default keys and the agent. */
  keyFile: string | null;
  /** ~/.ssh */
  sshDir: string;
  agentSocket: string | undefined;
  envPassword: string | undefined;
  /** Asks a secret on the terminal; null when there is none. */
  askSecret: ((message: string) => Promise<string | null>) | null;
  debug: (line: string) => void;
}

/** The default identity files, in OpenSSH's order (ssh_config IdentityFile). */
export const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

const PASSWORD_TRIES = 3;

interface LoadedKey {
  file: string;
  key: ParsedKey;
}

/** Reads and parses one private key; asks its passphrase on a terminal when it is encrypted. */
export async function loadPrivateKey(file: string, sources: AuthSources, required: boolean): Promise<LoadedKey | null> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if (!required) return null;
    throw new ClientError('COFFER_KEY_FILE', `cannot read key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error && /passphrase/i.test(parsed.message)) {
    const passphrase = sources.askSecret ? await sources.askSecret(`Enter passphrase for key '${file}':`) : null;
    if (passphrase === null) {
      if (required) throw new ClientError('COFFER_KEY_FILE', `key file ${file} is encrypted and no passphrase can be asked (no terminal)`);
      sources.debug(`skipping encrypted key ${file}`);
      return null;
    }
    parsed = ssh2.utils.parseKey(data, passphrase);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey()) {
    if (required) throw new ClientError('COFFER_KEY_FILE', `${file} is not a usable private key${key instanceof Error ? ` (${key.message})` : ''}`);
    sources.debug(`skipping ${file}: not a usable private key`);
    return null;
  }
  return { file, key };
}

/** The keys to offer: the `-i` key alone, or the default identities that exist. */
export async function loadKeys(sources: AuthSources): Promise<LoadedKey[]> {
  if (sources.keyFile !== null) return [(await loadPrivateKey(sources.keyFile, sources, true))!];
  const keys: LoadedKey[] = [];
  for (const name of DEFAULT_IDENTITIES) {
    const loaded = await loadPrivateKey(join(sources.sshDir, name), sources, false);
    if (loaded) keys.push(loaded);
  }
  return keys;
}

/** An ssh2 authHandler trying each source in turn, and what to say when all failed. */
export function makeAuthHandler(sources: AuthSources, keys: LoadedKey[]): { handler: AuthHandlerMiddleware; failure(): string } {
  const steps: Array<() => Promise<AnyAuthMethod | null>> = [];
  const username = sources.username;
  for (const { file, key } of keys) steps.push(async () => (sources.debug(`trying key ${file}`), { type: 'publickey', username, key }));
  if (sources.keyFile === null && sources.agentSocket) steps.push(async () => ({ type: 'agent', username, agent: sources.agentSocket! }));
  let passwords = 0;
  const nextPassword = async (): Promise<string | null> => {
    if (sources.envPassword !== undefined) return passwords++ === 0 ? sources.envPassword : null;
    if (!sources.askSecret || passwords++ >= PASSWORD_TRIES) return null;
    return sources.askSecret(`${username}@${sources.host}'s password:`);
  };
  let allowed: AuthenticationType[] | null = null;
  const passwordStep = async (): Promise<AnyAuthMethod | null> => {
    const password = await nextPassword();
    if (password === null) return null;
    if (allowed && !allowed.includes('password') && allowed.includes('keyboard-interactive')) {
      return { type: 'keyboard-interactive', username, prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map(() => password)) };
    }
    return { type: 'password', username, password };
  };
  let index = 0;
  let triedPassword = false;
  const handler: AuthHandlerMiddleware = (methodsLeft, _partial, next) => {
    allowed = methodsLeft ?? null;
    void (async () => {
      while (index < steps.length) {
        const method = await steps[index++]!();
        if (method && (!allowed || allowed.includes(method.type === 'agent' ? 'publickey' : method.type))) return next(method);
      }
      if (allowed && !allowed.includes('password') && !allowed.includes('keyboard-interactive')) return next(false as never);
      triedPassword = true;
      const method = await passwordStep();
      next(method ?? (false as never));
    })().catch(() => next(false as never));
  };
  const failure = () => {
    const tried = [keys.length ? 'keys' : '', sources.keyFile === null && sources.agentSocket ? 'agent' : '', triedPassword ? 'password' : ''].filter(Boolean);
    const hint = sources.envPassword === undefined && !sources.askSecret ? '; set COFFER_PASSWORD or use -i KEYFILE (no terminal to ask a password)' : '';
    return `authentication failed for ${username}@${sources.host}${tried.length ? ` (tried: ${tried.join(', ')})` : ''}${hint}`;
  };
  return { handler, failure };
}
