// Argument parsing shared by the commands: node's parseArgs, with usage errors as RegError.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RegError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: Options, usage: string): { values: any; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (e) {
    throw new RegError('USAGE', (e as Error).message.replace(/\. To specify a positional.*$/s, ''), { hint: `usage: ${usage}` });
  }
}

export function need(value: string | undefined, what: string, usage: string): string {
  if (!value) throw new RegError('USAGE', `missing ${what}`, { hint: `usage: ${usage}` });
  return value;
}
