// Safe extraction of the tar archives TF Hub and Kaggle serve (hub-protocols.md §2, tensorflow_hub's
// file_utils rules): only regular files and folders, no member path that leaves the destination, no links or
// devices. A bad member fails the whole archive: the caller extracts into a temporary folder it removes.
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { extract } from 'tar';
import { SourceError } from './http.js';

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

export type Compression = 'gzip' | 'tar' | 'bzip2' | 'xz' | 'zip' | 'unknown';

/** Tells a gzip / bzip2 / xz / plain tar / zip stream apart by its magic bytes. */
export async function detectCompression(path: string): Promise<Compression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(262);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const b = head.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'zip';
    if (b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return 'unknown';
  } finally {
    await handle.close();
  }
}

/**
 * Checks one member path the way tensorflow_hub's merge_relative_path does, but stricter: a leading '/' is
 * stripped, and any '..' segment is refused, even one that would stay inside after normalising.
 * Returns the normalised relative path ('' for the root itself).
 */
export function safeMemberPath(path: string): string {
  const stripped = path.replace(/^\/+/, '');
  if (stripped.includes('\0') || stripped.includes('\\')) throw new SourceError('archive', `unsafe archive member '${path}'`);
  if (stripped.split('/').includes('..')) throw new SourceError('archive', `archive member '${path}' points outside the destination ('..')`);
  const normal = posix.normalize(stripped || '.');
  if (normal === '.' || normal === './') return '';
  if (normal.startsWith('../') || normal === '..' || posix.isAbsolute(normal)) {
    throw new SourceError('archive', `archive member '${path}' points outside the destination`);
  }
  return normal.replace(/\/$/, '');
}

export interface ExtractResult {
  files: number;
  folders: number;
}

/**
 * Extracts a gzip'd or plain tar file into `dest` (which must be a fresh, empty folder). Throws a
 * SourceError of kind 'archive' for a link, device or escaping member, a corrupt or truncated stream, an
 * unsupported compression, or an archive without any file.
 */
export async function extractTarball(archive: string, dest: string, options: { signal?: AbortSignal } = {}): Promise<ExtractResult> {
  const compression = await detectCompression(archive);
  if (compression !== 'gzip' && compression !== 'tar') {
    throw new SourceError(
      'archive',
      compression === 'unknown' ? 'not a tar archive (unrecognised content)' : `unsupported archive format (${compression}); musiq-native reads tar and tar.gz`,
    );
  }
  let problem: SourceError | undefined;
  const warnings: string[] = [];
  const result: ExtractResult = { files: 0, folders: 0 };
  try {
    await extract({
      file: archive,
      cwd: dest,
      strict: false,
      preserveOwner: false,
      noChmod: false,
      // Never trust the archive's permission bits beyond rw for the owner.
      umask: 0o022,
      filter: (path, entry) => {
        if (problem) return false;
        const type = 'type' in entry ? entry.type : 'File';
        if (!ALLOWED_TYPES.has(type)) {
          problem = new SourceError('archive', `archive member '${path}' is a ${type === 'SymbolicLink' ? 'symbolic link' : type === 'Link' ? 'hard link' : type}: only files and folders are allowed`);
          return false;
        }
        try {
          if (safeMemberPath(path) === '') return type === 'Directory' ? false : (problem = new SourceError('archive', `archive member '${path}' has no name`), false);
        } catch (error) {
          problem = error as SourceError;
          return false;
        }
        if (type === 'Directory') result.folders++;
        else result.files++;
        return true;
      },
      onwarn: (code, message) => {
        if (code !== 'TAR_ENTRY_INFO') warnings.push(`${code}: ${typeof message === 'string' ? message : (message as Error).message}`);
      },
    });
    options.signal?.throwIfAborted();
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (problem) throw problem;
    throw new SourceError('archive', `corrupt archive: ${(error as Error).message}`, { cause: error });
  }
  if (problem) throw problem;
  if (result.files === 0) throw new SourceError('archive', 'empty archive: no files in it');
  if (warnings.length > 0) throw new SourceError('archive', `corrupt archive: ${warnings[0]}`);
  return result;
}
