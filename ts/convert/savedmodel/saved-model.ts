// Reads a TF2 SavedModel folder without TensorFlow: saved_model.pb (decoded with our own schema subset) and,
// when present, the variables/ TensorBundle. The summary holds what musiq-native uses: tags, signatures, op
// histograms of the graph and its functions, the variables of the object graph with their checkpoint keys,
// and large constants (weights baked into the graph would show up there).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TensorBundle } from '../tensorbundle/bundle.js';
import { dtypeInfo } from '../tensorbundle/dtypes.js';
import { decodeSavedModel, shapeDims, type MetaGraphDef, type NodeDef, type SavedObject, type TensorInfo, type TensorProto } from './schema.js';

export class SavedModelError extends Error {
  override name = 'SavedModelError';
}

export interface TensorSpec {
  /** Graph tensor name, e.g. `serving_default_x:0`. */
  name: string;
  dtype: string;
  /** -1 = unknown dimension; null = unknown rank. */
  shape: number[] | null;
}

export interface SignatureSummary {
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  methodName: string;
}

export interface SavedVariableInfo {
  nodeId: number;
  /** Child names from the root joined by `/`, e.g. `variables/0`; null for optimizer slots (no child path). */
  path: string | null;
  name: string;
  /** Key of its value in the checkpoint (from the checkpoint's object graph), when there is one. */
  checkpointKey: string | null;
  dtype: string;
  shape: number[] | null;
  trainable: boolean;
}

export interface GraphConstant {
  /** The function holding the node, or null for the top-level graph. */
  function: string | null;
  node: string;
  dtype: string;
  shape: number[] | null;
  bytes: number;
}

export interface SavedModelSummary {
  schemaVersion: number;
  tags: string[];
  tensorflowVersion: string | null;
  tensorflowGitVersion: string | null;
  strippedDefaultAttrs: boolean;
  signatures: Record<string, SignatureSummary>;
  assetFiles: string[];
  graph: { nodeCount: number; opHistogram: Record<string, number>; versions: { producer: number; minConsumer: number } };
  functions: { count: number; nodeCount: number; opHistogram: Record<string, number> };
  objectGraph: { numNodes: number; kinds: Record<string, number>; numConcreteFunctions: number; variables: SavedVariableInfo[] };
  /** Const nodes of at least LARGE_CONSTANT_BYTES. */
  largeConstants: GraphConstant[];
}

export interface SavedModel {
  dir: string;
  summary: SavedModelSummary;
  metaGraph: MetaGraphDef;
  /** The variables checkpoint; undefined when the model has no variables/ folder. */
  bundle: TensorBundle | undefined;
}

const LARGE_CONSTANT_BYTES = 1024;
const SERVE_TAG = 'serve';
const OBJECT_KINDS = ['user_object', 'asset', 'function', 'variable', 'bare_concrete_function', 'constant', 'resource', 'captured_tensor'] as const;

function tensorSpec(info: TensorInfo): TensorSpec {
  return { name: info.name, dtype: dtypeInfo(info.dtype).name, shape: info.tensor_shape ? shapeDims(info.tensor_shape) : null };
}

function histogram(nodes: Iterable<NodeDef>, into: Record<string, number> = {}): Record<string, number> {
  for (const node of nodes) into[node.op] = (into[node.op] ?? 0) + 1;
  return into;
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every node of the graph and of its function library, with the function that holds it. */
export function* allNodes(metaGraph: MetaGraphDef): Generator<{ function: string | null; node: NodeDef }> {
  for (const node of metaGraph.graph_def?.node ?? []) yield { function: null, node };
  for (const fn of metaGraph.graph_def?.library?.function ?? []) {
    for (const node of fn.node_def) yield { function: fn.signature?.name ?? '', node };
  }
}

/** Bytes of a constant's values, whether stored as raw content or as a typed value list. */
function constantBytes(tensor: TensorProto): number {
  if (tensor.tensor_content.length > 0) return tensor.tensor_content.length;
  const itemSize = dtypeInfo(tensor.dtype).itemSize || 1;
  const listed =
    tensor.float_val.length + tensor.double_val.length + tensor.int_val.length + tensor.int64_val.length + tensor.bool_val.length + tensor.half_val.length;
  return listed * itemSize + tensor.string_val.reduce((a, s) => a + s.length, 0);
}

function largeConstants(metaGraph: MetaGraphDef): GraphConstant[] {
  const found: GraphConstant[] = [];
  for (const { function: fn, node } of allNodes(metaGraph)) {
    const tensor = node.op === 'Const' ? node.attr.value?.tensor : undefined;
    if (!tensor) continue;
    const bytes = constantBytes(tensor);
    if (bytes < LARGE_CONSTANT_BYTES) continue;
    found.push({ function: fn, node: node.name, dtype: dtypeInfo(tensor.dtype).name, shape: shapeDims(tensor.tensor_shape), bytes });
  }
  return found;
}

/** First path to each node through `children`, breadth first from the root, so the shortest name wins. */
function nodePaths(nodes: ReadonlyArray<{ children: ReadonlyArray<{ node_id: number; local_name: string }> }>): Map<number, string> {
  const paths = new Map<number, string>([[0, '']]);
  const queue = [0];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const child of nodes[id]?.children ?? []) {
      if (paths.has(child.node_id)) continue;
      paths.set(child.node_id, paths.get(id) ? `${paths.get(id)}/${child.local_name}` : child.local_name);
      queue.push(child.node_id);
    }
  }
  return paths;
}

function objectKind(object: SavedObject): string {
  return OBJECT_KINDS.find((kind) => object[kind] !== undefined && object[kind] !== null) ?? 'unknown';
}

async function decodeMetaGraph(dir: string): Promise<{ schemaVersion: number; metaGraph: MetaGraphDef }> {
  const path = join(dir, 'saved_model.pb');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new SavedModelError(`${dir} is not a SavedModel folder: cannot read saved_model.pb (${(error as Error).message})`, { cause: error });
  }
  let proto;
  try {
    proto = decodeSavedModel(bytes);
  } catch (error) {
    throw new SavedModelError(`${path}: not a valid SavedModel protobuf (${(error as Error).message})`, { cause: error });
  }
  // TF Hub and Kaggle models hold one MetaGraphDef tagged "serve"; take that one, or the only one.
  const metaGraph =
    proto.meta_graphs.find((m) => m.meta_info_def?.tags.includes(SERVE_TAG)) ?? (proto.meta_graphs.length === 1 ? proto.meta_graphs[0] : undefined);
  if (!metaGraph) {
    const tags = proto.meta_graphs.map((m) => `[${m.meta_info_def?.tags.join(', ') ?? ''}]`).join(', ');
    throw new SavedModelError(`${path}: no MetaGraphDef tagged '${SERVE_TAG}' (found ${proto.meta_graphs.length}: ${tags || 'none'})`);
  }
  return { schemaVersion: proto.saved_model_schema_version, metaGraph };
}

async function openBundle(dir: string): Promise<TensorBundle | undefined> {
  const prefix = join(dir, 'variables', 'variables');
  const index = await stat(`${prefix}.index`).catch(() => undefined);
  return index ? TensorBundle.open(prefix) : undefined;
}

/** Reads saved_model.pb and opens variables/ (index checked; tensors are read on demand). */
export async function readSavedModel(dir: string): Promise<SavedModel> {
  const [{ schemaVersion, metaGraph }, bundle] = await Promise.all([decodeMetaGraph(dir), openBundle(dir)]);
  const checkpointGraph = await bundle?.objectGraph();
  const objects = metaGraph.object_graph_def?.nodes ?? [];
  const paths = nodePaths(objects);
  const kinds: Record<string, number> = {};
  const variables: SavedVariableInfo[] = [];
  objects.forEach((object, nodeId) => {
    const kind = objectKind(object);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (!object.variable) return;
    const attribute = checkpointGraph?.nodes[nodeId]?.attributes.find((a) => a.name === 'VARIABLE_VALUE');
    variables.push({
      nodeId,
      path: paths.get(nodeId) ?? null,
      name: object.variable.name,
      checkpointKey: attribute?.checkpoint_key ?? null,
      dtype: dtypeInfo(object.variable.dtype).name,
      shape: shapeDims(object.variable.shape),
      trainable: object.variable.trainable,
    });
  });
  const functions = metaGraph.graph_def?.library?.function ?? [];
  const info = metaGraph.meta_info_def;
  const summary: SavedModelSummary = {
    schemaVersion,
    tags: info?.tags ?? [],
    tensorflowVersion: info ? info.tensorflow_version : null,
    tensorflowGitVersion: info ? info.tensorflow_git_version : null,
    strippedDefaultAttrs: info?.stripped_default_attrs ?? false,
    signatures: sortedKeys(
      Object.fromEntries(
        Object.entries(metaGraph.signature_def).map(([key, sig]) => [
          key,
          {
            inputs: sortedKeys(Object.fromEntries(Object.entries(sig.inputs).map(([k, v]) => [k, tensorSpec(v)]))),
            outputs: sortedKeys(Object.fromEntries(Object.entries(sig.outputs).map(([k, v]) => [k, tensorSpec(v)]))),
            methodName: sig.method_name,
          },
        ]),
      ),
    ),
    assetFiles: metaGraph.asset_file_def.map((a) => a.filename),
    graph: {
      nodeCount: metaGraph.graph_def?.node.length ?? 0,
      opHistogram: sortedKeys(histogram(metaGraph.graph_def?.node ?? [])),
      versions: { producer: metaGraph.graph_def?.versions?.producer ?? 0, minConsumer: metaGraph.graph_def?.versions?.min_consumer ?? 0 },
    },
    functions: {
      count: functions.length,
      nodeCount: functions.reduce((n, f) => n + f.node_def.length, 0),
      opHistogram: sortedKeys(functions.reduce((h, f) => histogram(f.node_def, h), {} as Record<string, number>)),
    },
    objectGraph: {
      numNodes: objects.length,
      kinds: sortedKeys(kinds),
      numConcreteFunctions: Object.keys(metaGraph.object_graph_def?.concrete_functions ?? {}).length,
      variables,
    },
    largeConstants: largeConstants(metaGraph),
  };
  return { dir, summary, metaGraph, bundle };
}
