// A temporary home for the model-sources tests: every cache, config and credential location the code reads
// points into one temporary folder, so no test reads or writes the real ones.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/**
 * The environment for a test folder. Credential and override variables are set empty (the code treats that as
 * unset), so a child process that inherits process.env still sees none of the developer's.
 */
export function sandboxEnv(dir: string): NodeJS.ProcessEnv {
  return {
    HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'xdg-cache'),
    MUSIQ_NATIVE_CACHE: join(dir, 'cache'),
    TFHUB_CACHE_DIR: join(dir, 'tfhub'),
    KAGGLEHUB_CACHE: join(dir, 'kagglehub'),
    KAGGLE_API_TOKEN: '',
    KAGGLE_USERNAME: '',
    KAGGLE_KEY: '',
    KAGGLE_CONFIG_DIR: '',
    KAGGLE_API_ENDPOINT: '',
    MUSIQ_NATIVE_CONFIG: '',
    MUSIQ_NATIVE_SOURCES: '',
    MUSIQ_NATIVE_OFFLINE: '',
    MUSIQ_NATIVE_CHECKPOINTS: '',
    MUSIQ_NATIVE_TFHUB_MIRROR: '',
    MUSIQ_NATIVE_KAGGLE_MIRROR: '',
    MUSIQ_NATIVE_NPZ_MIRROR: '',
  };
}

/** Every file (and empty folder, with a trailing '/') under a folder, relative, sorted; [] if it does not exist. */
export async function tree(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || (e.isDirectory() && entries.every((o) => o === e || !join(o.parentPath, o.name).startsWith(`${join(e.parentPath, e.name)}/`))))
    .map((e) => relative(path, join(e.parentPath, e.name)) + (e.isDirectory() ? '/' : ''))
    .sort();
}

/** A temporary folder for one test file, handing out a fresh case folder (with its `home`) to each test. */
export interface SandboxRoot {
  path: string;
  caseDir(name?: string): Promise<string>;
  remove(): Promise<void>;
}

export async function sandboxRoot(prefix: string): Promise<SandboxRoot> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  let counter = 0;
  return {
    path,
    async caseDir(name = `t${counter++}`) {
      const dir = join(path, name);
      await mkdir(join(dir, 'home'), { recursive: true });
      return dir;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
