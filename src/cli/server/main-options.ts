/**
 * coffer-server's command line: every setting of SPEC §3 as `--kebab-name VALUE` (booleans as
 * `--name` / `--no-name`), plus --root, --config, --help, --version, --debug; and the --help text.
 */
import { kebab, SETTING_NAMES, SETTING_SPECS, type SettingName } from '../../config/settings.js';

/** The program's name, as in messages. */
export const PROGRAM = 'coffer-server';

type OptionSpec = { type: 'string' | 'boolean' };

/** The parseArgs options: one per setting (booleans also as --no-NAME), plus the common ones. */
export function serverOptions(): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = {
    root: { type: 'string' },
    config: { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
    debug: { type: 'boolean' },
  };
  for (const name of SETTING_NAMES) {
    if (SETTING_SPECS[name].kind === 'bool') {
      options[kebab(name)] = { type: 'boolean' };
      options[`no-${kebab(name)}`] = { type: 'boolean' };
    } else {
      options[kebab(name)] = { type: 'string' };
    }
  }
  return options;
}

/** Setting flags found on the command line, by setting name (the last of --x / --no-x wins). */
export function settingFlags(values: Record<string, unknown>, argv: string[]): Partial<Record<SettingName, string | boolean>> {
  const flags: Partial<Record<SettingName, string | boolean>> = {};
  for (const name of SETTING_NAMES) {
    const flag = kebab(name);
    if (SETTING_SPECS[name].kind === 'bool') {
      const on = argv.lastIndexOf(`--${flag}`);
      const off = argv.lastIndexOf(`--no-${flag}`);
      if (on >= 0 || off >= 0) flags[name] = on > off;
    } else if (typeof values[flag] === 'string') {
      flags[name] = values[flag] as string;
    }
  }
  return flags;
}

/** The --help text, built from the settings table. */
export function helpText(): string {
  const lines = [
    `Usage: ${PROGRAM} [--root DIR] [--config FILE] [--SETTING VALUE ...]`,
    '',
    'The Coffer SFTP server. State (keys/, db/, homes/) lives under --root (env COFFER_ROOT,',
    'default: the project folder). Settings come from flags, COFFER_<NAME> variables and',
    'coffer.json, flags winning.',
    '',
  ];
  const row = (flag: string, help: string) => lines.push(`  ${flag.padEnd(36)}${help}`);
  row('--root DIR', 'state folder');
  row('--config FILE', 'JSON settings file (default: <root>/coffer.json if present)');
  for (const name of SETTING_NAMES) {
    const spec = SETTING_SPECS[name];
    const flag = spec.kind === 'bool' ? `--[no-]${kebab(name)}` : `--${kebab(name)} ${spec.kind === 'int' ? 'N' : spec.kind === 'workers' ? 'N|auto' : spec.kind === 'list' ? 'A,B,...' : 'VALUE'}`;
    row(flag, spec.help);
  }
  row('--debug', 'print stack traces of errors');
  row('--help, --version', 'this text; the version');
  return lines.join('\n') + '\n';
}

