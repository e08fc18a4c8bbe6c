// Converts whatever a source produced (an .npz checkpoint, a SavedModel folder, an already converted .onnx)
// into a musiq-native ONNX model with its sidecar. The CLI's `convert --from` and the sources chain both go
// through here.
import { statSync } from 'node:fs';
import { convertNpz, type ConvertNpzOptions, type ModelSidecar } from './convert.js';
import { copyOnnxModel } from './onnx-model.js';
import { convertSavedModel } from './savedmodel/convert.js';

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
    case 'npz':
      return convertNpz(path, outPath, options);
    case 'savedmodel':
      return convertSavedModel(path, outPath, options);
    case 'onnx':
      // Already converted (e.g. a release asset): installed as is, with its sidecar.
      return copyOnnxModel(path, outPath, options.name);
  }
}
