// VILA parameters (.npz in the Pax layout, or a tree harvested from a SavedModel) → ONNX model + sidecar.
import { PACKAGE_VERSION } from '../version.js';
import { vilaGeometry } from '../preprocess/vila.js';
import { modelNameFromFile, sha256File, writeModelFiles, type ConvertNpzOptions, type VilaSidecar } from './convert.js';
import { toFloat32, type ParamTree, type Tensor } from './musiq-params.js';
import { readNpz } from './npz.js';
import { buildVilaGraph } from './vila-graph.js';
import { VILA_KEY_PREFIX, VILA_TEXT_EMBEDDING_KEY, vilaParamsFrom } from './vila-params.js';

export interface VilaTree {
  params: ParamTree;
  textEmbedding: Tensor | undefined;
}

/**
 * Reads the `params/…` tensors and the prompt embedding of a VILA .npz; undefined when the file holds no
 * `params/` keys (then it is not a VILA checkpoint). Other keys are skipped unread.
 */
export async function readVilaNpz(path: string, options: { signal?: AbortSignal; warn?: (line: string) => void } = {}): Promise<VilaTree | undefined> {
  const arrays = await readNpz(path, {
    keyFilter: (key) => key.startsWith(VILA_KEY_PREFIX) || key === VILA_TEXT_EMBEDDING_KEY,
    signal: options.signal,
  });
  const params: ParamTree = new Map();
  let textEmbedding: Tensor | undefined;
  for (const [key, array] of arrays) {
    const { tensor, warning } = toFloat32(key, array);
    if (warning) options.warn?.(warning);
    if (key === VILA_TEXT_EMBEDDING_KEY) textEmbedding = tensor;
    else params.set(key.slice(VILA_KEY_PREFIX.length), tensor);
  }
  return params.size > 0 ? { params, textEmbedding } : undefined;
}

/** Validates the tree, builds the graph and writes the model with its sidecar. */
export async function writeVilaModel(tree: VilaTree, outPath: string, options: { name: string; source: VilaSidecar['source'] }): Promise<VilaSidecar> {
  const { config, params, textEmbedding } = vilaParamsFrom(tree.params, tree.textEmbedding, options.source.file);
  const sidecar: VilaSidecar = {
    format: 'musiq-native-model',
    formatVersion: 1,
    name: options.name,
    architecture: 'vila',
    config,
    scoreRange: [0, 1],
    higherIsBetter: true,
    scoreRule: 'cosine',
    preprocessing: vilaGeometry(config.imageSize),
    source: options.source,
    producer: `musiq-native ${PACKAGE_VERSION}`,
  };
  await writeModelFiles(buildVilaGraph(params, config, textEmbedding), outPath, sidecar, `VILA-R ${options.name}`);
  return sidecar;
}

/** `convert --from vila_params.npz` with the tree already read. */
export async function convertVilaNpz(path: string, tree: VilaTree, outPath: string, options: ConvertNpzOptions = {}): Promise<VilaSidecar> {
  return writeVilaModel(tree, outPath, { name: options.name ?? modelNameFromFile(path), source: { kind: 'npz', file: path, sha256: await sha256File(path) } });
}
