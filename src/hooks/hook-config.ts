/**
 * The `hooks` setting (SPEC §8): a JSON list of `{"on": [EVENTS], "run": ["/path/prog", ...]}` and
 * `{"on": [EVENTS], "post": "URL", "secret": "..."}`, validated strictly at start. Messages name
 * the entry and the key, and never repeat a secret.
 */

/** The events a hook may subscribe to. */
export const HOOK_EVENTS = ['upload', 'download', 'remove', 'rename', 'mkdir', 'rmdir', 'login', 'logout', 'quota-refused'] as const;
export type HookEventName = (typeof HOOK_EVENTS)[number];

/** A program started without a shell, the event JSON on its stdin. */
export interface RunHook {
  on: HookEventName[];
  run: string[];
}

/** An HTTP(S) POST of the event JSON, signed with HMAC-SHA256 of the body under `secret`. */
export interface PostHook {
  on: HookEventName[];
  post: string;
  secret: string;
}

export type HookSpec = RunHook | PostHook;

/**
 * Parses the setting's value: a JSON list (from coffer.json) or its text (COFFER_HOOKS, --hooks).
 * Returns the hooks, or a problem saying what is wrong ("hooks[1].on: unknown event 'x'").
 */
export function parseHooks(raw: unknown): HookSpec[] | { problem: string } {
  let value = raw;
  if (raw === null || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { problem: 'must be a JSON list of hooks' };
    }
  }
  if (!Array.isArray(value)) return { problem: 'must be a list of hooks' };
  const hooks: HookSpec[] = [];
  for (const [i, entry] of value.entries()) {
    const hook = parseHook(entry);
    if (typeof hook === 'string') return { problem: `entry ${i}: ${hook}` };
    hooks.push(hook);
  }
  return hooks;
}

/** One entry, or what is wrong with it. */
function parseHook(entry: unknown): HookSpec | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'must be an object with "on" and "run", or "on", "post" and "secret"';
  const e = entry as Record<string, unknown>;
  const isRun = 'run' in e;
  const allowed = isRun ? ['on', 'run'] : ['on', 'post', 'secret'];
  const unknown = Object.keys(e).find((k) => !allowed.includes(k));
  if (unknown !== undefined) return `unknown key "${unknown.slice(0, 40)}" (a hook has ${isRun ? '"on" and "run"' : '"on", "post" and "secret"'})`;
  const on = parseEvents(e.on);
  if (typeof on === 'string') return on;
  if (isRun) {
    const run = e.run;
    if (!Array.isArray(run) || run.length === 0 || !run.every((a) => typeof a === 'string')) return '"run" must be a list of strings: the program, then its arguments';
    if (!run[0]!.startsWith('/')) return '"run" must start with an absolute program path (hooks run without a shell or PATH lookup)';
    if (run.some((a: string) => a.includes('\0'))) return '"run" must not contain NUL characters';
    return { on, run: [...run] as string[] };
  }
  if (typeof e.post !== 'string') return 'must have "run" (a program) or "post" (a URL)';
  let url: URL;
  try {
    url = new URL(e.post);
  } catch {
    return '"post" must be an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return '"post" must be an http:// or https:// URL';
  if (typeof e.secret !== 'string' || e.secret === '') return '"secret" must be a non-empty string (the HMAC key of X-Coffer-Signature)';
  return { on, post: e.post, secret: e.secret };
}

function parseEvents(on: unknown): HookEventName[] | string {
  if (!Array.isArray(on) || on.length === 0) return `"on" must be a non-empty list of events (${HOOK_EVENTS.join(', ')})`;
  for (const name of on) {
    if (!HOOK_EVENTS.includes(name as HookEventName)) return `"on": unknown event ${JSON.stringify(String(name).slice(0, 40))} (events: ${HOOK_EVENTS.join(', ')})`;
  }
  return [...new Set(on as HookEventName[])];
}

/** True for a hook that runs a program. */
export function isRunHook(hook: HookSpec): hook is RunHook {
  return 'run' in hook;
}
