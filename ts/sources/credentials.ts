// Kaggle credentials, in kagglehub's precedence (hub-protocols.md §4.4):
//   1. API token → `Authorization: Bearer`: env KAGGLE_API_TOKEN (the token, or a path to a file holding it),
//      then ~/.kaggle/access_token, then ~/.kaggle/access_token.txt;
//   2. env KAGGLE_USERNAME + KAGGLE_KEY → HTTP Basic;
//   3. $KAGGLE_CONFIG_DIR/kaggle.json (default ~/.kaggle/kaggle.json) → HTTP Basic.
// Only `source` (where it came from) is ever shown; `secrets` lets loggers scrub the values.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface KaggleCredential {
  scheme: 'Bearer' | 'Basic';
  /** The Authorization header value. Never log it. */
  authorization: string;
  /** Where it came from, safe to show: e.g. "KAGGLE_API_TOKEN" or "~/.kaggle/kaggle.json". */
  source: string;
  /** The secret strings, for scrubbing from any text that might be shown. */
  secrets: string[];
}

function readText(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function bearer(token: string, source: string): KaggleCredential {
  return { scheme: 'Bearer', authorization: `Bearer ${token}`, source, secrets: [token] };
}

function basic(username: string, key: string, source: string): KaggleCredential {
  const encoded = Buffer.from(`${username}:${key}`).toString('base64');
  return { scheme: 'Basic', authorization: `Basic ${encoded}`, source, secrets: [key, encoded] };
}

export function findKaggleCredential(env: NodeJS.ProcessEnv = process.env): KaggleCredential | undefined {
  const home = env.HOME || homedir();
  const kaggleDir = join(home, '.kaggle');
  const token = env.KAGGLE_API_TOKEN?.trim();
  if (token) {
    // The value is the token, or the path of a file that holds it.
    const fromFile = !/\s/.test(token) && token.length < 4096 && existsSync(token) ? readText(token) : undefined;
    return bearer(fromFile ?? token, 'KAGGLE_API_TOKEN');
  }
  for (const name of ['access_token', 'access_token.txt']) {
    const value = readText(join(kaggleDir, name));
    if (value) return bearer(value, `~/.kaggle/${name}`);
  }
  if (env.KAGGLE_USERNAME && env.KAGGLE_KEY) return basic(env.KAGGLE_USERNAME, env.KAGGLE_KEY, 'KAGGLE_USERNAME/KAGGLE_KEY');
  const configDir = env.KAGGLE_CONFIG_DIR || kaggleDir;
  const json = readText(join(configDir, 'kaggle.json'));
  if (json) {
    let parsed: { username?: unknown; key?: unknown };
    try {
      parsed = JSON.parse(json) as typeof parsed;
    } catch {
      return undefined;
    }
    if (typeof parsed.username === 'string' && typeof parsed.key === 'string') {
      return basic(parsed.username, parsed.key, env.KAGGLE_CONFIG_DIR ? '$KAGGLE_CONFIG_DIR/kaggle.json' : '~/.kaggle/kaggle.json');
    }
  }
  return undefined;
}

/** Replaces every secret in a text with `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}
