// Converts whatever a source produced (an .npz checkpoint, a SavedModel folder, an already converted .onnx)
// into a musiq-native ONNX model (MUSIQ or VILA-R, told apart by the parameter names) with its sidecar. The CLI's `convert --from` and the sources chain both go
// through here.
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { convertNpz, sidecarPath, type ConvertNpzOptions, type ModelSidecar } from './convert.js';
import { copyOnnxModel } from './onnx-model.js';
import { convertSavedModel, modelNameFromFolder, savedModelSha256 } from './savedmodel/convert.js';
import { readSavedModel } from './savedmodel/saved-model.js';
import { convertVilaNpz, readVilaNpz, writeVilaModel } from './vila-convert.js';
import { looksLikeVila, readVilaSavedModel } from './vila-savedmodel.js';

export type ArtifactKind = 'npz' | 'savedmodel' | 'onnx';

export class UnsupportedArtifactError extends Error {
  override name = 'UnsupportedArtifactError';
}

/** Tells what kind of artifact a path holds, from its type and name. */
export function artifactKind(path: string): ArtifactKind {
  const info = statSync(path, { throwIfNoEntry: false });
  if (!info) throw new UnsupportedArtifactError(`${path}: no such file or folder`);
  if (info.isDirectory()) return 'savedmodel';
  if (/\.npz$/i.test(path)) return 'npz';
  if (/\.onnx$/i.test(path)) return 'onnx';
  throw new UnsupportedArtifactError(`${path}: expected an .npz checkpoint, a SavedModel folder or an .onnx model`);
}

export class OutputPathError extends Error {
  override name = 'OutputPathError';
}

/** The real path of `path`, symbolic links resolved in the part that exists (the rest may not exist yet). */
function realPath(path: string): string {
  const absolute = resolve(path);
  try {
    return realpathSync(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(realPath(parent), basename(absolute));
  }
}

/** A converted model is an .onnx file: its sidecar is `<out>.json`, and other names invite overwriting a checkpoint. */
export function checkOnnxPath(outPath: string): void {
  if (!/\.onnx$/i.test(outPath)) {
    throw new OutputPathError(`${outPath}: the converted model must be an .onnx file (its description is written to ${sidecarPath(outPath)})`);
  }
}

/**
 * Refuses an output that would destroy the input: the model or its sidecar written over the checkpoint, or
 * into the SavedModel folder being read.
 */
export function checkOutputPath(source: string, outPath: string): void {
  checkOnnxPath(outPath);
  const from = realPath(source);
  for (const target of [outPath, sidecarPath(outPath)]) {
    const to = realPath(target);
    if (to === from) throw new OutputPathError(`${target} is the source being converted (${source}): write the model to another path`);
    if (to.startsWith(`${from}${sep}`)) throw new OutputPathError(`${target} is inside the source folder ${source}: write the model outside it`);
  }
}

export async function convertFrom(path: string, outPath: string, options: ConvertNpzOptions = {}): Promise<ModelSidecar> {
  checkOutputPath(path, outPath);
  switch (artifactKind(path)) {
    case 'npz': {
      // A VILA .npz holds `params/…` keys; a MUSIQ checkpoint `opt/target/…`.
      const vila = await readVilaNpz(path, options);
      return vila ? convertVilaNpz(path, vila, outPath, options) : convertNpz(path, outPath, options);
    }
    case 'savedmodel': {
      const sm = await readSavedModel(path);
      if (!looksLikeVila(sm)) return convertSavedModel(path, outPath, options);
      const tree = await readVilaSavedModel(sm, options.warn);
      return writeVilaModel(tree, outPath, {
        name: options.name ?? modelNameFromFolder(path),
        source: { kind: 'savedmodel', file: path, sha256: await savedModelSha256(sm) },
      });
    }
    case 'onnx':
      // Already converted (e.g. a release asset): installed as is, with its sidecar.
      return copyOnnxModel(path, outPath, options.name);
  }
}
