// The sidecar file `<model>.onnx.json`: where it is and how it is read (the types are in convert.ts). Kept apart
// from the converter so that the inference worker can check a model against it without loading the converter.
import { readFile } from 'node:fs/promises';
import type { ModelSidecar } from './convert.js';

export function sidecarPath(modelPath: string): string {
  return `${modelPath}.json`;
}

export class SidecarError extends Error {
  override name = 'SidecarError';
}

/** Reads the sidecar of a model; a damaged one is named, with the way to repair it. */
export async function readSidecarFile(modelPath: string): Promise<ModelSidecar> {
  const path = sidecarPath(modelPath);
  const repair = `convert the model again (musiq-native convert --from <checkpoint> --out ${modelPath}) to rewrite it`;
  let sidecar: ModelSidecar;
  try {
    sidecar = JSON.parse(await readFile(path, 'utf8')) as ModelSidecar;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new SidecarError(`${path}, the description of ${modelPath}, is not valid JSON (${error.message}): ${repair}`, { cause: error });
  }
  if (sidecar?.format !== 'musiq-native-model' || (sidecar.architecture !== 'musiq' && sidecar.architecture !== 'vila')) {
    throw new SidecarError(`${path} is not a musiq-native model description: ${repair}`);
  }
  return sidecar;
}
