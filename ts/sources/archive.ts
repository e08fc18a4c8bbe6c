// Safe extraction of the tar archives TF Hub and Kaggle serve (hub-protocols.md §2, tensorflow_hub's
// file_utils rules): only regular files and folders, no member path that leaves the destination, no links or
// devices. A bad member fails the whole archive: the caller extracts into a temporary folder it removes.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Unpack } from 'tar';
import { SourceError } from './http.js';

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

export type Compression = 'gzip' | 'tar' | 'bzip2' | 'xz' | 'zip' | 'unknown';

/** Tells a gzip / bzip2 / xz / plain tar / zip stream apart by its magic bytes. */
export async function detectCompression(path: string): Promise<Compression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(262);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return magicOf(head.subarray(0, bytesRead));
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

function magicOf(b: Buffer): Compression {
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'zip';
  if (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return 'unknown';
}

function compressionError(compression: Compression): SourceError {
  return new SourceError(
    'archive',
    compression === 'unknown' ? 'not a tar archive (unrecognised content)' : `unsupported archive format (${compression}); musiq-native reads tar and tar.gz`,
  );
}

/**
 * Extracts a gzip'd or plain tar stream into `dest` (a fresh, empty folder). Throws a SourceError of kind
 * 'archive' for a link, device or escaping member, a corrupt stream, an unsupported compression, or an
 * archive without any file; errors of the source stream (a truncated download) are passed through
 * `onSourceError` so the caller can classify them.
 */
export async function extractTarStream(
  source: Readable,
  dest: string,
  options: { signal?: AbortSignal; onSourceError?: (error: unknown) => Error } = {},
): Promise<ExtractResult> {
  let problem: Error | undefined;
  const warnings: string[] = [];
  const result: ExtractResult = { files: 0, folders: 0 };
  let entries = 0;
  const unpack = new Unpack({
    cwd: dest,
    strict: false,
    preserveOwner: false,
    umask: 0o022,
    filter: (path, entry) => {
      entries++;
      if (problem) return false;
      const type = 'type' in entry ? entry.type : 'File';
      if (!ALLOWED_TYPES.has(type)) {
        const what = type === 'SymbolicLink' ? 'symbolic link' : type === 'Link' ? 'hard link' : type;
        problem = new SourceError('archive', `archive member '${path}' is a ${what}: only files and folders are allowed`);
        return false;
      }
      let relative: string;
      try {
        relative = safeMemberPath(path);
      } catch (error) {
        problem = error as SourceError;
        return false;
      }
      if (relative === '') return false; // the root folder itself ('./')
      if (type === 'Directory') result.folders++;
      else result.files++;
      return true;
    },
    onwarn: (code, message) => {
      if (code !== 'TAR_ENTRY_INFO') warnings.push(`${code}: ${typeof message === 'string' ? message : (message as Error).message}`);
    },
  });
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      source.unpipe?.();
      source.destroy();
      unpack.removeAllListeners('close');
      reject(error);
    };
    // The first 262 bytes tell the format (ustar's magic is at offset 257).
    let head: Buffer | undefined = Buffer.alloc(0);
    const sniff = (final: boolean): boolean => {
      if (!head || (head.length < 262 && !final)) return true;
      const compression = magicOf(head);
      const first = head;
      head = undefined;
      if (compression !== 'gzip' && compression !== 'tar') {
        fail(compressionError(compression));
        return false;
      }
      write(first);
      return true;
    };
    const write = (chunk: Buffer): void => {
      if (!unpack.write(chunk)) {
        source.pause();
        unpack.once('drain', () => source.resume());
      }
    };
    const onAbort = (): void => fail(options.signal!.reason as Error);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    source.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (head) {
        head = Buffer.concat([head, chunk]);
        sniff(false);
        return;
      }
      write(chunk);
    });
    source.on('end', () => {
      if (settled) return;
      if (head && head.length === 0) return fail(new SourceError('archive', 'empty archive: the download was empty'));
      if (!sniff(true)) return;
      unpack.end();
    });
    source.on('error', (error) => fail(options.onSourceError ? options.onSourceError(error) : error));
    unpack.on('error', (error: Error & { code?: string }) => {
      // Only end-of-archive blocks: tar calls that an unrecognised format; it is an empty archive.
      if (!problem && entries === 0 && warnings.length === 0 && error.code === 'TAR_BAD_ARCHIVE') {
        return fail(new SourceError('archive', 'empty archive: no entries in it'));
      }
      fail(problem ?? new SourceError('archive', `corrupt archive: ${error.message}`, { cause: error }));
    });
    unpack.on('close', () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      resolve();
    });
  });
  if (problem) throw problem;
  if (result.files === 0) throw new SourceError('archive', 'empty archive: no files in it');
  if (warnings.length > 0) throw new SourceError('archive', `corrupt archive: ${warnings[0]}`);
  return result;
}

/** Extracts a tar / tar.gz file; see extractTarStream. */
export async function extractTarball(archive: string, dest: string, options: { signal?: AbortSignal } = {}): Promise<ExtractResult> {
  const compression = await detectCompression(archive);
  if (compression !== 'gzip' && compression !== 'tar') throw compressionError(compression);
  return extractTarStream(createReadStream(archive), dest, options);
}
