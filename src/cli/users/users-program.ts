/**
 * coffer-users: user management on the server's state folder (SPEC §4). Parses the command line,
 * checks it against the command table, and runs the command. Works while the server runs. A
 * SIGINT/SIGTERM (caught by main.ts from the first moment) ends the command at its next step:
 * each change is one transaction, so the database holds all of a change or none of it; the
 * database is closed and the command exits 130 (SIGINT) or 143 (SIGTERM), saying what it left.
 */
import { loadConfig } from '../../config/load.js';
import { packageVersion } from '../../config/paths.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { abortable } from '../../util/abortable.js';
import { EXIT, parseCommandLine, runProgram, UsageError } from '../common/run.js';
import { StopRequested, type StopSignals } from '../common/stop-signals.js';
import * as cmd from './commands.js';
import type { CommandContext } from './commands.js';

const OPTIONS = {
  root: { type: 'string' },
  config: { type: 'string' },
  database: { type: 'string' },
  quota: { type: 'string' },
  files: { type: 'string' },
  key: { type: 'string', multiple: true },
  'password-stdin': { type: 'boolean' },
  'no-password': { type: 'boolean' },
  disabled: { type: 'boolean' },
  purge: { type: 'boolean' },
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

interface CommandSpec {
  usage: string;
  /** How many positional arguments after the command words: [min, max]. */
  args: [number, number];
  options: string[];
  run(ctx: CommandContext): Promise<void>;
}

const COMMANDS: Record<string, CommandSpec> = {
  add: {
    usage: 'add NAME [--quota SIZE] [--files N] [--key FILE|-]... [--password-stdin | --no-password] [--disabled]',
    args: [1, 1],
    options: ['quota', 'files', 'key', 'password-stdin', 'no-password', 'disabled'],
    run: cmd.add,
  },
  passwd: { usage: 'passwd NAME [--password-stdin | --no-password]', args: [1, 1], options: ['password-stdin', 'no-password'], run: cmd.passwd },
  quota: { usage: 'quota NAME SIZE', args: [2, 2], options: [], run: cmd.quota },
  files: { usage: 'files NAME N|unlimited', args: [2, 2], options: [], run: cmd.files },
  'key add': { usage: 'key add NAME FILE|-', args: [2, 2], options: [], run: cmd.keyAdd },
  'key list': { usage: 'key list NAME [--json]', args: [1, 1], options: ['json'], run: cmd.keyList },
  'key remove': { usage: 'key remove NAME FINGERPRINT|INDEX', args: [2, 2], options: [], run: cmd.keyRemove },
  list: { usage: 'list [--json]', args: [0, 0], options: ['json'], run: cmd.list },
  show: { usage: 'show NAME [--json]', args: [1, 1], options: ['json'], run: cmd.show },
  disable: { usage: 'disable NAME', args: [1, 1], options: [], run: (c) => cmd.setDisabled(c, true) },
  enable: { usage: 'enable NAME', args: [1, 1], options: [], run: (c) => cmd.setDisabled(c, false) },
  remove: { usage: 'remove NAME [--purge]', args: [1, 1], options: ['purge'], run: cmd.remove },
  rescan: { usage: 'rescan [NAME]', args: [0, 1], options: [], run: cmd.rescan },
  'copy-to': { usage: 'copy-to URL', args: [1, 1], options: [], run: cmd.copyTo },
};

const GLOBAL_OPTIONS = ['root', 'config', 'database', 'debug', 'help', 'version'];

const HELP = `Usage: coffer-users [--root DIR] [--config FILE] COMMAND ...

Manage Coffer's users: their passwords, public keys, quotas and home folders.
Works while coffer-server runs; changes apply to the next login or operation.

Commands:
${Object.values(COMMANDS)
  .map((c) => `  coffer-users ${c.usage}`)
  .join('\n')}

Options:
  --root DIR          state folder with keys/, db/, homes/ (env COFFER_ROOT; default: the project folder)
  --config FILE       settings file (env COFFER_CONFIG; default: ROOT/coffer.json if present)
  --database URL      the store: a postgres:// URL (env COFFER_DATABASE, coffer.json "database");
                      default: the SQLite file ROOT/db/coffer.db
  --quota SIZE        512, 10K, 10M, 1.5G, 2T (powers of 1024) or unlimited; default: defaultQuota (1G)
  --files N           entry limit (files, folders, links in the home) or unlimited; default: defaultMaxFiles (1000000)
  --key FILE|-        authorized_keys lines (ed25519, ecdsa, RSA >= 2048 bits); - reads stdin; repeatable
  --password-stdin    read the password from the first line of standard input
  --no-password       no password (add: key-only user; passwd: remove the password)
  --disabled          add the user disabled
  --purge             remove: also delete the home folder
  --json              machine-readable output (list, show, key list)
  --debug             print stack traces of errors
  -h, --help          this help;  --version  the version

Without --password-stdin, passwords are asked twice (hidden) when stdin is a terminal.
A user needs a password or at least one key. Exit status: 0 done, 2 refused (nothing changed), 1 failed,
130/143 interrupted by SIGINT/SIGTERM (the message says what was done; each change is all or nothing).
`;

/** Splits positionals into the command's name (one or two words) and its arguments. */
function findCommand(positionals: string[]): [string, CommandSpec, string[]] {
  const [first, second] = positionals;
  if (first === undefined) throw new UsageError('no command given (see coffer-users --help)');
  const name = first === 'key' && second !== undefined ? `key ${second}` : first;
  const spec = COMMANDS[name];
  if (!spec) {
    const hint = first === 'key' ? 'key add|list|remove' : Object.keys(COMMANDS).filter((c) => !c.includes(' ')).join(', ') + ', key';
    throw new UsageError(`unknown command '${name}' (commands: ${hint})`);
  }
  return [name, spec, positionals.slice(name.split(' ').length)];
}

/** Runs coffer-users; `stop` is aborted by the first SIGINT/SIGTERM, whenever it comes. */
export function runUsers(stop: StopSignals): void {
  // Exit as main settles: a signal during Node's teardown after a natural exit (the handlers gone)
  // killed the process by the signal after its command had succeeded, 73 times in 150 in a test.
  runProgram('coffer-users', (argv) => main(argv, stop), { exitWhenDone: true });
}

async function main(argv: string[], stop: StopSignals): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) return void process.stdout.write(HELP), EXIT.ok;
  if (values.version) return void process.stdout.write(`coffer-users ${packageVersion()}\n`), EXIT.ok;
  const [name, spec, args] = findCommand(positionals);
  for (const opt of Object.keys(values)) {
    if (!GLOBAL_OPTIONS.includes(opt) && !spec.options.includes(opt)) throw new UsageError(`option --${opt} does not apply to '${name}'`);
  }
  if (args.length < spec.args[0] || args.length > spec.args[1]) throw new UsageError(`usage: coffer-users ${spec.usage}`);
  const config = loadConfig({ rootFlag: values.root, configFlag: values.config, flags: { database: values.database }, stdoutIsTTY: false });
  let store: Promise<Store> | undefined;
  const ctx: CommandContext = {
    config,
    args,
    flags: {
      quota: values.quota,
      files: values.files,
      key: values.key,
      passwordStdin: values['password-stdin'],
      noPassword: values['no-password'],
      disabled: values.disabled,
      purge: values.purge,
      json: values.json,
    },
    store: () => (store ??= openStore(config)),
    print: (text) => process.stdout.write(text),
    step: async (work) => {
      const value = await abortable(work, stop.signal);
      stop.signal.throwIfAborted();
      return value;
    },
  };
  try {
    stop.signal.throwIfAborted(); // a signal while the program loaded: do not begin
    await spec.run(ctx);
  } catch (err) {
    // A command that changed something before the stop says so itself.
    if (err instanceof StopRequested && !err.detail) throw err.withDetail('nothing was changed');
    throw err;
  } finally {
    await (await store?.catch(() => undefined))?.close();
  }
  return EXIT.ok;
}
