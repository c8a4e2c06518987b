/** Option parsing on node:util parseArgs, with Git's `--[no-]progress` and `--object-dir`. */
import { parseArgs } from 'node:util';
import { type CliIO, Exit, type GlobalOptions } from './context.js';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

const COMMON: OptionSpec = {
  'object-dir': { type: 'string' },
  'git-dir': { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export interface Parsed {
  global: GlobalOptions;
  values: Record<string, string | boolean | undefined>;
  rest: string[];
  help: boolean;
}

/**
 * Parses `argv` with the common options plus `extra`. With `stopAtCommand`, parsing stops at the
 * first non-option (the subcommand), as Git's top-level parser does.
 */
export function parseCommon(
  argv: string[],
  stopAtCommand: boolean,
  extra: OptionSpec = {},
  usage?: string,
  base: GlobalOptions = {},
): Parsed {
  let args = argv;
  let tail: string[] = [];
  if (stopAtCommand) {
    const i = argv.findIndex((a) => !a.startsWith('-') || a === '-');
    const dd = argv.indexOf('--');
    const cut = i < 0 ? argv.length : i;
    if (dd >= 0 && dd < cut) {
      args = argv.slice(0, dd);
      tail = argv.slice(dd + 1);
    } else {
      args = argv.slice(0, cut);
      tail = argv.slice(cut);
    }
    // `--object-dir <dir>` takes the next word as its value.
    if (cut > 0 && (argv[cut - 1] === '--object-dir' || argv[cut - 1] === '--git-dir') && cut < argv.length) {
      args = argv.slice(0, cut + 1);
      tail = argv.slice(cut + 1);
      const j = tail.findIndex((a) => !a.startsWith('-'));
      if (j > 0) {
        args = args.concat(tail.slice(0, j));
        tail = tail.slice(j);
      }
    }
  }
  const options = { ...COMMON, ...extra };
  let parsed: ReturnType<typeof parseArgs> | undefined = simpleParse(args, options);
  if (parsed === undefined) {
    try {
      parsed = parseArgs({
        args,
        options,
        allowPositionals: true,
        strict: true,
        tokens: true,
      });
    } catch (e) {
      const m = /Unknown option '(-{1,2})([^']*)'/.exec((e as Error).message);
      if (m)
        throw new UsageError(
          m[1] === '--' ? `unknown option \`${m[2]}'` : `unknown switch \`${m[2]}'`,
          usage,
        );
      const v = /Option '(?:-\w, )?--([^ ']+)(?: <value>)?' argument missing/.exec((e as Error).message);
      if (v) throw new UsageError(`option \`${v[1]}' requires a value`, usage);
      throw new UsageError((e as Error).message, usage);
    }
  }
  const global: GlobalOptions = { ...base };
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (t.name === 'object-dir') global.objectDir = t.value as string;
    else if (t.name === 'git-dir') global.gitDir = t.value as string;
    else if (t.name === 'progress') global.progress = true;
    else if (t.name === 'no-progress') global.progress = false;
  }
  return {
    global,
    values: parsed.values as Record<string, string | boolean | undefined>,
    rest: [...parsed.positionals, ...tail],
    help: parsed.values.help === true,
  };
}

/**
 * What parseArgs (strict, positionals allowed, with tokens) gives for the command lines most calls
 * have: words that are not options, and boolean options written alone (`-p`, `--progress`).
 * Undefined for anything else (values, `--`, grouped short options, unknown options), which
 * parseArgs then handles. parseArgs costs most of a millisecond on its first call; this, nothing.
 */
export function simpleParse(args: string[], options: OptionSpec): ReturnType<typeof parseArgs> | undefined {
  const values: Record<string, boolean> = Object.create(null);
  const positionals: string[] = [];
  const tokens: { kind: 'option'; name: string }[] = [];
  for (const a of args) {
    if (a === '-' || !a.startsWith('-')) {
      positionals.push(a);
      continue;
    }
    let name: string | undefined;
    if (a.length === 2 && a !== '--') {
      for (const key in options) if (options[key].short === a[1]) name = key;
    } else if (a.startsWith('--') && !a.includes('=') && Object.hasOwn(options, a.slice(2))) {
      name = a.slice(2);
    }
    if (name === undefined || options[name].type !== 'boolean') return undefined;
    values[name] = true;
    tokens.push({ kind: 'option', name });
  }
  return { values, positionals, tokens } as unknown as ReturnType<typeof parseArgs>;
}

/**
 * `parseCommon` for a subcommand, with what every subcommand does first: `-h` prints its usage and
 * exits 129, as Git does; an argument is a usage error unless `positionals` allows them.
 */
export function parseCommand(
  io: CliIO,
  args: string[],
  extra: OptionSpec,
  usage: string,
  global: GlobalOptions,
  positionals = false,
  optionHelp: OptionHelp = [],
): Parsed {
  const p = parseCommon(args, false, extra, usage, global);
  if (p.help) {
    io.stdout(
      `usage: git-midx [<options>] ${usage}\n\n${formatOptionHelp([...GLOBAL_HELP, ...optionHelp])}\n`,
    );
    throw new Exit(129);
  }
  if (!positionals && p.rest.length > 0) throw new UsageError(`unexpected argument '${p.rest[0]}'`, usage);
  return p;
}

/** A command's options for `-h`: the option as written, and what it does. */
export type OptionHelp = ReadonlyArray<readonly [string, string]>;

/** The options every command takes (they may come before or after the command's name). */
const GLOBAL_HELP: OptionHelp = [
  ['--object-dir <directory>', 'object directory containing set of packfile and pack-index pairs'],
  ['--git-dir <path|url>', 'the repository: a directory, or the http(s) URL of one served as static files'],
  ['--[no-]progress', 'force progress reporting'],
];

/**
 * Git's layout of an option list (parse-options): four spaces, the option, and its description
 * from column 26, or on the next line when the option is too long for that.
 */
export function formatOptionHelp(options: OptionHelp): string {
  let out = '';
  for (const [flag, text] of options) {
    const left = `    ${flag}`;
    out += left.length <= 24 ? `${left.padEnd(26)}${text}\n` : `${left}\n${' '.repeat(26)}${text}\n`;
  }
  return out;
}
