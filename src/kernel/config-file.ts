// A config file's text, read and parsed (YAML, or JSON for a `.json` file): one reading for the server's config
// (src/kernel/config.ts) and the Lambda host's (src/hosts/lambda-config.ts). The YAML parser is passed in, so that
// the Lambda host can load it only for a YAML file (a JSON config spares its load at a cold start).

import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { ConfigError } from './errors.ts';

/** `parseDocument` of the `yaml` package (its part used here). */
export type ParseYamlDocument = (text: string) => { errors: Array<{ message: string }>; toJS(): unknown };

/** The file's absolute path and its text; a file that cannot be read is a ConfigError on `config`. */
export function readConfigFile(path: string): { file: string; text: string } {
  const file = resolve(path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new ConfigError([{ field: 'config', message: `cannot read ${file}: ${reason}` }], { cause: error });
  }
}

export function isJsonConfig(file: string): boolean {
  return extname(file).toLowerCase() === '.json';
}

/** The value a config file's text holds; invalid JSON or YAML is a ConfigError naming the file and the fault. */
export function parseConfigText(text: string, file: string, parseDocument?: ParseYamlDocument): unknown {
  if (isJsonConfig(file)) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigError(
        [{ field: 'config', message: `${file} is not valid JSON: ${(error as Error).message}` }],
        { cause: error },
      );
    }
  }
  if (!parseDocument) throw new Error(`a YAML parser is needed to read ${file}`);
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        field: 'config',
        message: `${file} is not valid YAML: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  return doc.toJS();
}
