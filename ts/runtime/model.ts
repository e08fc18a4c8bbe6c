// Finds a model by what the user typed (`demo`, a registry name such as `koniq`, or a path to a converted .onnx)
// and reads its sidecar. Registry names go through the sources chain (ts/sources/chain.ts): the models cache,
// then the sources' caches, then TF Hub, Kaggle Models, the .npz URL and local files, converted once.
import { existsSync } from 'node:fs';
import { readSidecarFile, sidecarPath, type ModelSidecar } from '../convert/convert.js';
import { ensureDemoModel } from '../convert/demo-model.js';
import { resolveNamedModel } from '../sources/chain.js';
import { resolveSettings, type ChainOptions } from '../sources/context.js';

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
  return readSidecarFile(modelPath);
}

/** Whether a spec names a registry model rather than a file (no path separator, no .onnx). */
function looksLikeName(spec: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec) && !/\.(onnx|npz)$/i.test(spec);
}

/**
 * `demo`, a registry name (resolved through the sources chain with `sources`: --offline, --config, mirrors…),
 * or the path of a converted .onnx model.
 */
export async function resolveModel(spec: string, sources: ChainOptions = {}): Promise<ResolvedModel> {
  let path: string;
  if (spec === 'demo') {
    path = await ensureDemoModel();
  } else if (/\.npz$/i.test(spec)) {
    throw new ModelNotFoundError(
      `${spec} is a checkpoint, not a model: convert it once with \`musiq-native convert --from ${spec} --out model.onnx\`, then pass --model model.onnx`,
    );
  } else if (looksLikeName(spec) && resolveSettings(sources).registry.has(spec)) {
    path = (await resolveNamedModel(spec, sources)).path;
  } else if (existsSync(spec)) {
    path = spec;
  } else {
    const names = [...resolveSettings(sources).registry.keys()].join(', ');
    throw new ModelNotFoundError(`model '${spec}' not found: give a model name (${names}), the path of a converted .onnx model, or 'demo' for the built-in demo model`);
  }
  return { path, sidecar: await readSidecar(path) };
}

/**
 * Replaces registry names by the paths of their converted models (resolving them one after the other, so
 * that their messages do not interleave); `demo` and paths are passed through unchanged.
 */
export async function resolveModelPaths(specs: readonly string[], sources: ChainOptions = {}): Promise<string[]> {
  const paths: string[] = [];
  const registry = resolveSettings(sources).registry;
  for (const spec of specs) {
    paths.push(spec !== 'demo' && looksLikeName(spec) && registry.has(spec) ? (await resolveNamedModel(spec, sources)).path : spec);
  }
  return paths;
}
