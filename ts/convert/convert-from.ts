// Converts whatever a source produced (an .npz checkpoint, a SavedModel folder, an already converted .onnx)
// into a musiq-native ONNX model (MUSIQ or VILA-R, told apart by the parameter names) with its sidecar. The CLI's `convert --from` and the sources chain both go
// through here.
import { statSync } from 'node:fs';
import { convertNpz, type ConvertNpzOptions, type ModelSidecar } from './convert.js';
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

export async function convertFrom(path: string, outPath: string, options: ConvertNpzOptions = {}): Promise<ModelSidecar> {
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
