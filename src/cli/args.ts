/**
 * A strict `--name value` / `--name=value` parser for the CLI. Every problem is an ArgError naming
 * the argument, which the commands turn into exit code 2 (usage error) and a one-line message.
 */
export const EXIT_USAGE = 2;

export class ArgError extends Error {
  /** The argument at fault, e.g. `--bpm`. */
  readonly argument: string;

  constructor(argument: string, message: string) {
    super(message);
    this.name = 'ArgError';
    this.argument = argument;
  }
}

export interface ArgSpec {
  /** Options that take a value, without the leading `--`. */
  values: readonly string[];
  /** Options that are flags (no value). */
  flags?: readonly string[];
}

export interface ParsedArgs {
  values: Map<string, string>;
  flags: Set<string>;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const valueNames = new Set(spec.values);
  const flagNames = new Set(spec.flags ?? []);
  const allowed = [...spec.values, ...(spec.flags ?? [])].map((n) => `--${n}`).join(', ');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new ArgError(arg, `unexpected argument ${JSON.stringify(arg)}; options: ${allowed}`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (flagNames.has(name)) {
      if (eq !== -1) throw new ArgError(`--${name}`, `--${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (!valueNames.has(name))
      throw new ArgError(`--${name}`, `unknown option --${name}; options: ${allowed}`);
    let value: string | undefined;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      // A following `--x` is the next option, not a value; `-5` is a (negative) value.
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === '') throw new ArgError(`--${name}`, `--${name} needs a value`);
    if (values.has(name)) throw new ArgError(`--${name}`, `--${name} given more than once`);
    values.set(name, value);
  }
  return { values, flags };
}
