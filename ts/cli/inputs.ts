// Expands the command line's files, folders and globs into the list of images to score. Folders are walked
// recursively in sorted order; hidden entries are skipped; a folder reached twice through symlinks (a loop
// included) is read once. Each real file is listed once, under the first name it was reached by.
import type { Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';

/** Extensions taken from folders. Files named on the command line are always tried, whatever their name. */
export const IMAGE_EXTENSIONS = new Set([
  '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.jp2', '.jxl',
]);

export interface ExpandedInputs {
  files: string[];
  /** Files inside folders that were left out because their extension is not an image extension. */
  skipped: string[];
  /** Symbolic links inside folders whose target does not exist. */
  dangling: string[];
  /** Arguments that do not exist, each with its reason. */
  missing: Array<{ path: string; reason: string }>;
  /** Folders named as arguments in which no image file was found (a run over them alone scores nothing). */
  empty: string[];
}

export async function expandInputs(args: string[]): Promise<ExpandedInputs> {
  const result: ExpandedInputs = { files: [], skipped: [], dangling: [], missing: [], empty: [] };
  const visited = new Set<string>();
  const seenFiles = new Set<string>();
  let reached = 0; // image files reached, listed or not: a folder of files already listed is not empty
  // Two spellings of one file (a symlink, `a/../a/x.png`, the same name twice) would score it twice. The file's
  // identity comes from the stat already made to classify it (no extra system call per file).
  const addFile = (path: string, info: Stats): void => {
    reached++;
    const id = `${info.dev}:${info.ino}`;
    if (seenFiles.has(id)) return;
    seenFiles.add(id);
    result.files.push(path);
  };

  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
    for (const name of entries) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info) {
        if ((await lstat(path).catch(() => undefined))?.isSymbolicLink()) result.dangling.push(path);
        continue;
      }
      if (info.isDirectory()) await walk(path);
      else if (!info.isFile()) continue;
      else if (IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) addFile(path, info);
      else result.skipped.push(path);
    }
  };

  for (const arg of args) {
    const info = await stat(arg).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error && isDynamicPattern(arg)) {
      // Like the shell's globstar, `**` does not enter symlinked folders: a link back up would match every file
      // once per turn of the loop. A folder named as an argument is walked with its symlinks, each folder once.
      // An absolute pattern gives absolute paths, as the shell would (tinyglobby's default is relative).
      const options = { onlyFiles: true, dot: false, expandDirectories: false, followSymbolicLinks: false, absolute: isAbsolute(arg) };
      const matches = (await glob(arg, options)).sort();
      if (matches.length === 0) result.missing.push({ path: arg, reason: 'the pattern matches no file' });
      for (const match of matches) {
        const matched = await stat(match).catch(() => undefined); // gone since the glob saw it: nothing to score
        if (matched) addFile(match, matched);
      }
    } else if (info instanceof Error) {
      result.missing.push({ path: arg, reason: info.code === 'ENOENT' ? 'no such file or folder' : info.message });
    } else if (info.isDirectory()) {
      const before = reached;
      const again = visited.has(await realpath(arg)); // named twice, or inside a folder already walked
      await walk(arg);
      if (reached === before && !again) result.empty.push(arg);
    } else {
      addFile(arg, info);
    }
  }
  return result;
}
