// Expands the command line's files, folders and globs into the list of images to score. Folders are walked
// recursively in sorted order; hidden entries are skipped; a folder reached twice through symlinks (a loop
// included) is read once.
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';

/** Extensions taken from folders. Files named on the command line are always tried, whatever their name. */
export const IMAGE_EXTENSIONS = new Set([
  '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.jp2', '.jxl',
]);

export interface ExpandedInputs {
  files: string[];
  /** Files inside folders that were left out because their extension is not an image extension. */
  skipped: string[];
  /** Arguments that do not exist, each with its reason. */
  missing: Array<{ path: string; reason: string }>;
}

export async function expandInputs(args: string[]): Promise<ExpandedInputs> {
  const result: ExpandedInputs = { files: [], skipped: [], missing: [] };
  const visited = new Set<string>();

  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
    for (const name of entries) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined); // a dangling symlink is skipped
      if (!info) continue;
      if (info.isDirectory()) await walk(path);
      else if (info.isFile()) (IMAGE_EXTENSIONS.has(extname(name).toLowerCase()) ? result.files : result.skipped).push(path);
    }
  };

  for (const arg of args) {
    const info = await stat(arg).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error && isDynamicPattern(arg)) {
      const matches = (await glob(arg, { onlyFiles: true, dot: false, expandDirectories: false })).sort();
      if (matches.length === 0) result.missing.push({ path: arg, reason: 'the pattern matches no file' });
      result.files.push(...matches);
    } else if (info instanceof Error) {
      result.missing.push({ path: arg, reason: info.code === 'ENOENT' ? 'no such file or folder' : info.message });
    } else if (info.isDirectory()) {
      await walk(arg);
    } else {
      result.files.push(arg);
    }
  }
  return result;
}
