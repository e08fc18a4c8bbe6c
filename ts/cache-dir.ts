// Where musiq-native keeps converted models: $MUSIQ_NATIVE_CACHE, else $XDG_CACHE_HOME/musiq-native,
// else ~/.cache/musiq-native.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MUSIQ_NATIVE_CACHE) return env.MUSIQ_NATIVE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'musiq-native');
}
