// Finds a model by what the user typed (`demo` or a path to a converted .onnx) and reads its sidecar.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sidecarPath, type ModelSidecar } from '../convert/convert.js';
import { ensureDemoModel } from '../convert/demo-model.js';

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

export interface ResolvedModel {
  path: string;
  sidecar: ModelSidecar;
}

export async function readSidecar(modelPath: string): Promise<ModelSidecar> {
  const path = sidecarPath(modelPath);
  if (!existsSync(path)) {
    throw new ModelNotFoundError(
      `${modelPath} has no sidecar ${path}: musiq-native needs the model description it writes at conversion; ` +
        're-create the model with `musiq-native convert --from <checkpoint.npz> --out <model.onnx>`',
    );
  }
  const sidecar = JSON.parse(await readFile(path, 'utf8')) as ModelSidecar;
  if (sidecar.format !== 'musiq-native-model' || sidecar.architecture !== 'musiq') {
    throw new ModelNotFoundError(`${path} is not a musiq-native model description`);
  }
  return sidecar;
}

export async function resolveModel(spec: string): Promise<ResolvedModel> {
  let path: string;
  if (spec === 'demo') {
    path = await ensureDemoModel();
  } else if (/\.npz$/i.test(spec)) {
    throw new ModelNotFoundError(
      `${spec} is a checkpoint, not a model: convert it once with \`musiq-native convert --from ${spec} --out model.onnx\`, then pass --model model.onnx`,
    );
  } else if (existsSync(spec)) {
    path = spec;
  } else {
    throw new ModelNotFoundError(`model '${spec}' not found: give the path of a converted .onnx model, or 'demo' for the built-in demo model`);
  }
  return { path, sidecar: await readSidecar(path) };
}
