// VILA-R from a SavedModel (vila.md §6, §8–9): the image-branch parameters from variables/ (named by parameter
// path, or one `<name>/<i>` list in jax2tf flatten order), and the prompt embedding from a graph constant (a
// float32 D-vector of unit norm). What cannot be read (StableHLO inside an XlaCallModule op) stops with a
// message naming the sources that work instead.
import type { Tensor } from './musiq-params.js';
import { comparePaths, describeVariables, variableLists, variableNames } from './savedmodel/musiq-mapping.js';
import { jax2tfLowering } from './savedmodel/jax2tf.js';
import { readMappedVariables } from './savedmodel/read-variables.js';
import { allNodes, SavedModelError, type SavedModel, type SavedVariableInfo } from './savedmodel/saved-model.js';
import type { VilaTree } from './vila-convert.js';
import { POOLERS, VILA_BLOCK_LEAVES, VILA_FIXED_LEAVES, VILA_POOLER_LEAVES, VILA_TEXT_EMBEDDING_KEY, vilaParamPaths } from './vila-params.js';

const DT_FLOAT = 1;
const FIXED_COUNT = VILA_FIXED_LEAVES.length + POOLERS.length * VILA_POOLER_LEAVES.length;
const MARKERS = /(^|\/)(contrastive_img_pooler|generative_img_pooler|transformers_stack\/x_layers_\d+)\//;

/** Where to get a VILA model when the SavedModel cannot be read. */
const VILA_ALTERNATIVES =
  'convert the VILA parameters instead (`musiq-native convert --from vila_params.npz --out vila.onnx`, keys params/… and ' +
  `${VILA_TEXT_EMBEDDING_KEY}), or install an already converted model (\`musiq-native convert --from vila.onnx --out …\`)`;

/** The VILA parameter paths in jax2tf flatten order (keys sorted as Python sorts strings: x_layers_10 before _2). */
export function vilaFlattenOrder(numLayers: number): string[] {
  return vilaParamPaths(numLayers).sort(comparePaths);
}

/** Whether a SavedModel carries VILA image-branch parameters (by variable name, list length or StableHLO names). */
export function looksLikeVila(sm: SavedModel): boolean {
  const variables = sm.summary.objectGraph.variables;
  if (variables.some((v) => variableNames(v).some((n) => MARKERS.test(n)))) return true;
  if ([...variableLists(variables).values()].some((list) => list.length > FIXED_COUNT && (list.length - FIXED_COUNT) % VILA_BLOCK_LEAVES.length === 0)) return true;
  return jax2tfLowering(sm.metaGraph).callModules.some((m) => m.parameterNames.some((n) => MARKERS.test(n)));
}

function byName(sm: SavedModel, variables: readonly SavedVariableInfo[]): Map<string, SavedVariableInfo> | undefined {
  let layers = 0;
  for (const v of variables) for (const n of variableNames(v)) for (const m of n.matchAll(/x_layers_(\d+)\//g)) layers = Math.max(layers, Number(m[1]) + 1);
  if (!variables.some((v) => variableNames(v).some((n) => MARKERS.test(n)))) return undefined;
  const mapped = new Map<string, SavedVariableInfo>();
  const problems: string[] = [];
  for (const path of vilaFlattenOrder(layers)) {
    const hits = variables.filter((v) => variableNames(v).some((n) => n === path || n.endsWith(`/${path}`)));
    if (hits.length === 1) mapped.set(path, hits[0]!);
    else problems.push(hits.length === 0 ? `no variable named …/${path}` : `${hits.length} variables named …/${path}`);
  }
  if (problems.length > 0) {
    throw new SavedModelError(
      `${sm.dir}: the variables carry VILA parameter names, but not one per parameter:\n  - ${problems.slice(0, 20).join('\n  - ')}` +
        `${problems.length > 20 ? `\n  - … and ${problems.length - 20} more` : ''}\n  found ${variables.length} variables:${describeVariables(variables)}`,
    );
  }
  return mapped;
}

function byFlattenOrder(variables: readonly SavedVariableInfo[]): Map<string, SavedVariableInfo> | undefined {
  const fitting = [...variableLists(variables).values()].filter(
    (list) => list.length > FIXED_COUNT && (list.length - FIXED_COUNT) % VILA_BLOCK_LEAVES.length === 0,
  );
  if (fitting.length !== 1) return undefined;
  const list = fitting[0]!;
  const expected = vilaFlattenOrder((list.length - FIXED_COUNT) / VILA_BLOCK_LEAVES.length);
  return new Map(expected.map((path, i) => [path, list[i]!]));
}

/** Float32 constants of shape [D] (or [1, D]) with unit L2 norm: candidates for the prompt embedding. */
function unitVectorConstants(sm: SavedModel, dims: number): Array<{ node: string; data: Float32Array }> {
  const found: Array<{ node: string; data: Float32Array }> = [];
  for (const { function: fn, node } of allNodes(sm.metaGraph)) {
    const tensor = node.op === 'Const' ? node.attr.value?.tensor : undefined;
    if (!tensor || tensor.dtype !== DT_FLOAT) continue;
    const shape = tensor.tensor_shape?.dim.map((d) => d.size) ?? [];
    if (shape.reduce((a, b) => a * b, 1) !== dims || shape.filter((d) => d !== 1).length > 1) continue;
    let data: Float32Array;
    if (tensor.tensor_content.length === dims * 4) {
      data = new Float32Array(tensor.tensor_content.slice().buffer);
    } else if (tensor.float_val.length === dims) {
      data = Float32Array.from(tensor.float_val);
    } else continue;
    if (Math.abs(Math.hypot(...data) - 1) <= 1e-3) found.push({ node: `${fn ?? '(graph)'}/${node.name}`, data });
  }
  return found;
}

function unreadable(sm: SavedModel, what: string): never {
  const lowering = jax2tfLowering(sm.metaGraph);
  const where =
    lowering.kind === 'native'
      ? `the forward pass is ${lowering.callModules.length === 1 ? 'one XlaCallModule op' : `${lowering.callModules.length} XlaCallModule ops`} ` +
        '(jax2tf native serialisation), whose StableHLO and its constants musiq-native does not read'
      : 'musiq-native found it neither among the variables nor among the graph constants';
  throw new SavedModelError(`${sm.dir}: this looks like VILA-R, but ${what}: ${where}. To get the model, ${VILA_ALTERNATIVES}.`);
}

/** Finds the VILA parameters and the prompt embedding, reads them (checksums verified) and returns the tree. */
export async function readVilaSavedModel(sm: SavedModel, warn?: (line: string) => void): Promise<VilaTree> {
  const variables = sm.summary.objectGraph.variables.filter((v) => v.path !== null);
  const mapping = byName(sm, variables) ?? byFlattenOrder(variables);
  if (!mapping) unreadable(sm, `its ${variables.length} variables hold no VILA image-branch parameters`);
  const dims = mapping.get('encoder/entry_stack/patch_projection/bias/b')!.shape?.[0] ?? 0;
  const prompts = unitVectorConstants(sm, dims);
  if (prompts.length === 0) unreadable(sm, `its prompt embedding ("good image", a unit ${dims}-vector) is not a graph constant`);
  if (prompts.length > 1) {
    throw new SavedModelError(
      `${sm.dir}: ${prompts.length} unit ${dims}-vector constants could be the prompt embedding (${prompts.map((p) => p.node).join(', ')}); ` +
        `musiq-native cannot tell which. To get the model, ${VILA_ALTERNATIVES}.`,
    );
  }
  const { bundle } = sm;
  if (!bundle) unreadable(sm, 'it has no variables/ checkpoint');
  const params = await readMappedVariables(sm, mapping, warn);
  const textEmbedding: Tensor = { shape: [dims], data: prompts[0]!.data };
  return { params, textEmbedding };
}
