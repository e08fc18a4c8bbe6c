// Places a SavedModel's tensors onto the MUSIQ parameter tree (musiq-semantics.md §11). jax2tf exports store
// the parameters as a list of variables, `variables/<i>`, in the order of the tree flattened with dict keys
// sorted as Python sorts strings (savedmodel-format.md §9); other exports may name their variables. The layout
// is detected, never assumed: anything else stops with an error listing what was found and what was expected,
// because a wrong mapping gives plausible but wrong scores. `musiqParamsFrom` then checks every shape.
import { CheckpointError, musiqParamsFrom, type MusiqConfig, type ParamTree } from '../musiq-params.js';
import { DT_INT32 } from '../tensorbundle/dtypes.js';
import { describeShape } from '../tensorbundle/entry.js';
import { jax2tfLowering } from './jax2tf.js';
import { readMappedVariables } from './read-variables.js';
import { allNodes, SavedModelError, type SavedModel, type SavedVariableInfo } from './saved-model.js';

export type MusiqLayout = 'variable-list' | 'named-variables';

export interface MusiqMapping {
  layout: MusiqLayout;
  /** Where the parameters are, e.g. `variables/<i> in flatten order` or `named variables`. */
  description: string;
  /** Parameter path → the variable holding it, in flatten order. */
  variables: Map<string, SavedVariableInfo>;
  /** The StableHLO argument names of the XlaCallModule list the same parameters in the same order. */
  confirmedByArgumentNames: boolean;
}

export interface MusiqPatchCap {
  nativePatches: number;
  /** True when the serving graph itself fixes the cap; false when the published models' cap is assumed. */
  foundInGraph: boolean;
  /** How the cap was established. */
  evidence: string;
}

// Leaves of the tree other than the encoder blocks: 24, so a tree with L layers has 16·L + 24 leaves.
const FIXED_LEAVES = [
  'Transformer/cls',
  'Transformer/encoder_norm/bias',
  'Transformer/encoder_norm/scale',
  'Transformer/posembed_input/pos_embedding',
  'Transformer/scaleembed_input/scale_embedding',
  'conv_root/kernel',
  'gn_root/bias',
  'gn_root/scale',
  ...['conv1', 'conv2', 'conv3', 'conv_proj'].map((c) => `block1/unit1/${c}/kernel`),
  ...['gn1', 'gn2', 'gn3', 'gn_proj'].flatMap((g) => [`block1/unit1/${g}/bias`, `block1/unit1/${g}/scale`]),
  'embedding/bias',
  'embedding/kernel',
  'head/bias',
  'head/kernel',
];
const BLOCK_LEAVES = [
  'LayerNorm_0/bias',
  'LayerNorm_0/scale',
  'LayerNorm_2/bias',
  'LayerNorm_2/scale',
  'MlpBlock_3/Dense_0/bias',
  'MlpBlock_3/Dense_0/kernel',
  'MlpBlock_3/Dense_1/bias',
  'MlpBlock_3/Dense_1/kernel',
  ...['key', 'out', 'query', 'value'].flatMap((p) => [`MultiHeadDotProductAttention_1/${p}/bias`, `MultiHeadDotProductAttention_1/${p}/kernel`]),
];
const LEAVES_PER_BLOCK = BLOCK_LEAVES.length;

/** Python's order for tuples of str: component by component, each by code point. */
export function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    // Code point order; JS compares UTF-16 units, which agree for the ASCII names of a parameter tree.
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/** The MUSIQ parameter paths in `tf.nest.flatten` / `jax.tree_util` order (`encoderblock_10` before `_2`). */
export function musiqFlattenOrder(numLayers: number): string[] {
  const blocks = Array.from({ length: numLayers }, (_, i) => BLOCK_LEAVES.map((leaf) => `Transformer/encoderblock_${i}/${leaf}`));
  return [...FIXED_LEAVES, ...blocks.flat()].sort(comparePaths);
}

const VALUE_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE';

/** A variable's names without checkpoint decorations: its object path, its name, and its unescaped key. */
export function variableNames(v: SavedVariableInfo): string[] {
  const names = [v.path, v.name.replace(/:\d+$/, '')];
  if (v.checkpointKey?.endsWith(VALUE_SUFFIX)) {
    // trackable_utils.escape_local_name: '.' → '..' and '/' → '.S' inside a local name.
    names.push(v.checkpointKey.slice(0, -VALUE_SUFFIX.length).replace(/\.(\.|S)/g, (_, c: string) => (c === 'S' ? '/' : '.')));
  }
  return names.filter((n): n is string => Boolean(n));
}

export function describeVariables(variables: readonly SavedVariableInfo[], limit = 12): string {
  const lines = variables.slice(0, limit).map((v) => `${v.path ?? v.name} ${v.dtype} ${describeShape(v.shape ?? [])}`);
  if (variables.length > limit) lines.push(`… and ${variables.length - limit} more`);
  return lines.map((l) => `\n    ${l}`).join('');
}

function expectedLeaves(): string {
  return `a MUSIQ tree has 16·L + 24 parameters for L encoder layers (248 for the published 14-layer models)`;
}

/** `<attr>/<i>` lists of variables, with indices 0..n-1 each present once. */
export function variableLists(variables: readonly SavedVariableInfo[]): Map<string, SavedVariableInfo[]> {
  const lists = new Map<string, SavedVariableInfo[]>();
  for (const v of variables) {
    const match = v.path ? /^(.+)\/(\d+)$/.exec(v.path) : null;
    if (!match) continue;
    const list = lists.get(match[1]!) ?? [];
    list[Number(match[2])] = v;
    lists.set(match[1]!, list);
  }
  // Array.from turns holes (a missing index) into undefined, which `every` then sees.
  for (const [attr, list] of lists) if (!Array.from(list).every((v) => v !== undefined)) lists.delete(attr);
  return lists;
}

function byName(sm: SavedModel, variables: readonly SavedVariableInfo[]): MusiqMapping | undefined {
  const layers = new Set<number>();
  for (const v of variables) for (const n of variableNames(v)) for (const m of n.matchAll(/encoderblock_(\d+)\//g)) layers.add(Number(m[1]));
  if (layers.size === 0) return undefined;
  const expected = musiqFlattenOrder(Math.max(...layers) + 1);
  const mapped = new Map<string, SavedVariableInfo>();
  const problems: string[] = [];
  for (const path of expected) {
    const hits = variables.filter((v) => variableNames(v).some((n) => n === path || n.endsWith(`/${path}`)));
    if (hits.length === 1) mapped.set(path, hits[0]!);
    else problems.push(hits.length === 0 ? `no variable named …/${path}` : `${hits.length} variables named …/${path}`);
  }
  if (problems.length > 0) {
    throw new SavedModelError(
      `${sm.dir}: the variables carry MUSIQ parameter names, but not one per parameter:\n  - ${problems.slice(0, 20).join('\n  - ')}` +
        `${problems.length > 20 ? `\n  - … and ${problems.length - 20} more` : ''}\n  found ${variables.length} variables:${describeVariables(variables)}`,
    );
  }
  return { layout: 'named-variables', description: 'variables named by parameter path', variables: mapped, confirmedByArgumentNames: false };
}

function byFlattenOrder(sm: SavedModel, variables: readonly SavedVariableInfo[]): MusiqMapping | undefined {
  const lists = [...variableLists(variables)];
  if (lists.length === 0) return undefined;
  const fitting = lists.filter(([, list]) => list.length > FIXED_LEAVES.length && (list.length - FIXED_LEAVES.length) % LEAVES_PER_BLOCK === 0);
  if (fitting.length !== 1) {
    const found = lists.map(([attr, list]) => `'${attr}' (${list.length} variables)`).join(', ');
    throw new SavedModelError(
      `${sm.dir}: found variable lists ${found}; expected exactly one list of MUSIQ parameters: ${expectedLeaves()}` +
        `\n  found ${variables.length} variables:${describeVariables(variables)}`,
    );
  }
  const [attr, list] = fitting[0]!;
  const expected = musiqFlattenOrder((list.length - FIXED_LEAVES.length) / LEAVES_PER_BLOCK);
  const names = jax2tfLowering(sm.metaGraph).callModules.find((m) => m.parameterNames.length > 0)?.parameterNames ?? [];
  if (names.length > 0 && [...names].sort().join('\n') !== [...expected].sort().join('\n')) {
    const unexpected = names.filter((n) => !expected.includes(n));
    const missing = expected.filter((n) => !names.includes(n));
    throw new SavedModelError(
      `${sm.dir}: the XlaCallModule names ${names.length} parameters that are not the MUSIQ tree of ${expected.length}` +
        `${unexpected.length ? `; unexpected: ${unexpected.slice(0, 8).join(', ')}` : ''}${missing.length ? `; missing: ${missing.slice(0, 8).join(', ')}` : ''}`,
    );
  }
  return {
    layout: 'variable-list',
    description: `${attr}/<i> in the flatten order of the parameter tree (keys sorted as Python sorts strings)`,
    variables: new Map(expected.map((path, i) => [path, list[i]!])),
    confirmedByArgumentNames: names.join('\n') === expected.join('\n'),
  };
}

/** Finds where the MUSIQ parameters are. Throws a SavedModelError that lists what was found when it cannot tell. */
export function mapMusiqVariables(sm: SavedModel): MusiqMapping {
  const variables = sm.summary.objectGraph.variables.filter((v) => v.path !== null);
  const mapping = byName(sm, variables) ?? byFlattenOrder(sm, variables);
  if (mapping) return mapping;
  const constants = sm.summary.largeConstants;
  if (variables.length === 0 && constants.length > 0) {
    const listed = constants.slice(0, 12).map((c) => `\n    ${c.function ?? '(graph)'}/${c.node} ${c.dtype} ${describeShape(c.shape ?? [])}`);
    throw new SavedModelError(
      `${sm.dir}: the parameters are stored as ${constants.length} graph constants, not variables. Constants carry no parameter ` +
        `names and shapes alone are ambiguous (query/key/value kernels, LayerNorm scale/bias), so musiq-native cannot place them ` +
        `on the MUSIQ tree; expected variables: ${expectedLeaves()}.\n  found constants:${listed.join('')}` +
        `${constants.length > 12 ? `\n    … and ${constants.length - 12} more` : ''}`,
    );
  }
  throw new SavedModelError(
    `${sm.dir}: no MUSIQ parameters found: expected variables named by parameter path (…/Transformer/encoderblock_0/…) ` +
      `or one list <name>/<i> of them; ${expectedLeaves()}.\n  found ${variables.length} variables:${describeVariables(variables)}`,
  );
}

/** Reads the mapped tensors (checksums verified) and validates them as a MUSIQ tree. */
export async function readMusiqParams(
  sm: SavedModel,
  mapping: MusiqMapping,
  warn?: (line: string) => void,
): Promise<{ params: ParamTree; config: MusiqConfig }> {
  const params = await readMappedVariables(sm, mapping.variables, warn);
  try {
    return musiqParamsFrom(params, sm.dir);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    // Say which variable each rejected parameter came from, so a wrong layout is visible as such.
    const involved = [...mapping.variables].filter(([path]) => error.message.includes(`${path} `));
    const lines = involved.map(([path, v]) => `\n    ${v.checkpointKey} ${describeShape(params.get(path)!.shape)} → ${path}`);
    throw new SavedModelError(`${error.message}\n  mapping used (${mapping.description}):${lines.join('')}`, { cause: error });
  }
}

const TOKEN_WIDTH = 3 * 32 * 32 + 3;
const RESIZED_SCALE_ROWS = [49, 144]; // longer sides 224 and 384 in 32-pixel patches: 7², 12²
/** The TF Hub and Kaggle MUSIQ models cap native-resolution patches at 1024 (1217 = 49 + 144 + 1024 tokens). */
const SAVEDMODEL_DEFAULT_PATCH_CAP = 1024;

/**
 * The native-patch cap built into the serving graph: its preprocessing reshapes the token rows to
 * `[1, rows, 3075]` constants, one per scale and one for the whole sequence. When none is found (dynamic
 * shapes, or a graph written differently) the published models' cap is used, and the evidence says so.
 */
export function musiqPatchCap(sm: SavedModel, numScales: number): MusiqPatchCap {
  const rows = new Set<number>();
  for (const { node } of allNodes(sm.metaGraph)) {
    const tensor = node.op === 'Const' ? node.attr.value?.tensor : undefined;
    if (!tensor || tensor.tensor_content.length !== 12 || tensor.dtype !== DT_INT32) continue;
    const content = tensor.tensor_content;
    const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
    const n = view.getInt32(4, true);
    if (view.getInt32(0, true) === 1 && view.getInt32(8, true) === TOKEN_WIDTH && n > 0) rows.add(n);
  }
  const resized = numScales === 3 ? RESIZED_SCALE_ROWS : [];
  const total = Math.max(0, ...rows);
  const cap = total - resized.reduce((a, b) => a + b, 0);
  if (cap > 0 && rows.has(cap) && resized.every((r) => rows.has(r))) {
    return { nativePatches: cap, foundInGraph: true, evidence: `the serving graph reshapes tokens to [1, ${total}, ${TOKEN_WIDTH}] = ${[...resized, cap].join(' + ')} rows` };
  }
  return {
    nativePatches: SAVEDMODEL_DEFAULT_PATCH_CAP,
    foundInGraph: false,
    evidence: `no fixed token layout found in the graph; using the published TF Hub / Kaggle cap of ${SAVEDMODEL_DEFAULT_PATCH_CAP}`,
  };
}
