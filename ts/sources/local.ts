// Local checkpoints: an .npz file, a SavedModel folder or an already converted .onnx, looked up by the model's
// file names in the checkpoints folders (--checkpoints-dir / $MUSIQ_NATIVE_CHECKPOINTS / config, then
// <cache>/checkpoints). Also the shared rule for what a downloaded folder holds (findArtifact).
import { existsSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { sidecarPath, type LocalFingerprint } from '../convert/convert.js';
import { SourceError } from './http.js';
import type { Artifact, ProbeResult, Resolver, SourceContext } from './context.js';
import type { ModelEntry } from './registry.js';

async function walk(dir: string, depth: number, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && depth > 0) await walk(path, depth - 1, out);
    else if (entry.isFile()) out.push(path);
  }
}

/**
 * What a file or folder holds: itself if it is an .npz or .onnx file or a SavedModel folder (saved_model.pb);
 * for another folder, the one SavedModel, .onnx or .npz inside it (up to three levels down).
 */
export async function findArtifact(path: string): Promise<Artifact> {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info) throw new SourceError('not-found', `${path} does not exist`);
  if (info.isFile()) {
    if (/\.npz$/i.test(path)) return { path, kind: 'npz' };
    if (/\.onnx$/i.test(path)) return { path, kind: 'onnx' };
    throw new SourceError('invalid', `${path} is not an .npz checkpoint or an .onnx model`);
  }
  if (existsSync(join(path, 'saved_model.pb'))) return { path, kind: 'savedmodel' };
  const files: string[] = [];
  await walk(path, 3, files);
  const savedModels = files.filter((f) => f.endsWith('/saved_model.pb')).map((f) => f.slice(0, -'/saved_model.pb'.length));
  if (savedModels.length === 1) return { path: savedModels[0]!, kind: 'savedmodel' };
  const onnx = files.filter((f) => /\.onnx$/i.test(f));
  if (onnx.length === 1) return { path: onnx[0]!, kind: 'onnx' };
  const npz = files.filter((f) => /\.npz$/i.test(f));
  if (npz.length === 1) return { path: npz[0]!, kind: 'npz' };
  throw new SourceError('invalid', `${path} holds no single model (expected saved_model.pb, one .onnx or one .npz)`);
}

/** Size and modification time of a file, or summed and newest over the files of a folder (a SavedModel). */
export async function localFingerprint(path: string): Promise<LocalFingerprint> {
  const info = await stat(path);
  if (!info.isDirectory()) return { path, size: info.size, mtimeMs: info.mtimeMs };
  const files: string[] = [];
  await walk(path, Infinity, files);
  const stats = await Promise.all(files.map((file) => stat(file)));
  return { path, size: stats.reduce((sum, s) => sum + s.size, 0), mtimeMs: Math.max(info.mtimeMs, ...stats.map((s) => s.mtimeMs)) };
}

/** The paths looked at for a model, in order. */
export function localCandidates(model: ModelEntry, ctx: SourceContext): string[] {
  const out: string[] = [];
  for (const name of model.local) {
    if (isAbsolute(name)) out.push(name);
    else for (const dir of ctx.checkpointsDirs) out.push(join(dir, name));
  }
  return out;
}

function usable(path: string): boolean {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info) return false;
  // A converted model is only usable with its sidecar.
  if (info.isFile() && /\.onnx$/i.test(path)) return existsSync(sidecarPath(path));
  return true;
}

export const localResolver: Resolver = {
  kind: 'local',
  location(model, ctx) {
    return `${model.local.join(', ')} in ${ctx.checkpointsDirs.join(', ')}`;
  },
  async cached() {
    return undefined; // local files are a source, not a cache
  },
  async fetch(model, ctx) {
    const found = localCandidates(model, ctx).find(usable);
    if (!found) {
      throw new SourceError('not-found', `no local checkpoint (looked for ${model.local.join(', ')} in ${ctx.checkpointsDirs.join(', ')})`);
    }
    return findArtifact(found);
  },
  async probe(model, ctx): Promise<ProbeResult> {
    const found = localCandidates(model, ctx).find(usable);
    return found ? { status: 'available', detail: found } : { status: 'not found', detail: '' };
  },
};
