// The MUSIQ parameter tree: key names and shapes (musiq-semantics.md §11), configuration inferred from the
// shapes, and validation. Every source (npz, SavedModel, synthetic) produces a `ParamTree` and goes through
// `musiqParamsFrom`, so a wrong or partial checkpoint is rejected the same way whatever it came from.
import type { NpyArray } from './npy.js';
import { ParamChecker } from './param-check.js';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Parameters keyed by their path below `opt/target/`, e.g. `Transformer/cls`. */
export type ParamTree = Map<string, Tensor>;

export interface MusiqConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  mlpDim: number;
  numClasses: number;
  numScales: number;
  spatialPosGridSize: number;
  /** Channels of the stem output (256), whose 8×8 map is flattened into the embedding. */
  stemChannels: number;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export const CHECKPOINT_PREFIX = 'opt/target/';
export const STEM_CONVS = ['conv_proj', 'conv1', 'conv2', 'conv3'] as const;
const UNIT = 'block1/unit1';
const ATTENTION = 'MultiHeadDotProductAttention_1';

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** Converts an array read from a checkpoint to float32; returns a warning when it had to upcast. */
export function toFloat32(key: string, array: NpyArray): { tensor: Tensor; warning?: string } {
  const { dtype, shape, data } = array;
  const code = dtype.slice(1);
  if (code === 'f4') return { tensor: { shape, data: data as Float32Array } };
  const out = new Float32Array(data.length);
  if (code === 'f8') out.set(data as Float64Array);
  else if (code === 'f2') (data as Uint16Array).forEach((h, i) => (out[i] = halfToFloat(h)));
  else if (code === 'V2') {
    // bfloat16: the high half of a float32.
    const words = new Uint32Array(out.buffer);
    (data as Uint16Array).forEach((h, i) => (words[i] = h << 16));
  } else throw new CheckpointError(`${key}: dtype ${dtype} is not a floating-point parameter`);
  return { tensor: { shape, data: out }, warning: `${key}: ${dtype} upcast to float32` };
}

/**
 * Validates a MUSIQ parameter tree and infers its configuration. Missing keys, wrong shapes and non-finite
 * values are reported together, so a user sees everything that is wrong with a checkpoint at once.
 */
export function musiqParamsFrom(params: ParamTree, source: string): { config: MusiqConfig; params: ParamTree } {
  const checker = new ParamChecker(params);
  const { problems } = checker;
  const get = (key: string): Tensor | undefined => checker.get(key);
  const embedding = get('embedding/kernel');
  const query = get(`Transformer/encoderblock_0/${ATTENTION}/query/kernel`);
  const mlp = get('Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel');
  const head = get('head/kernel');
  const scaleEmb = get('Transformer/scaleembed_input/scale_embedding');
  const posEmb = get('Transformer/posembed_input/pos_embedding');
  const conv3 = get(`${UNIT}/conv3/kernel`);
  if (!embedding || !query || !mlp || !head || !scaleEmb || !posEmb || !conv3) {
    throw new CheckpointError(`${source} is not a MUSIQ checkpoint: ${problems.join('; ')}`);
  }
  let numLayers = 0;
  while (params.has(`Transformer/encoderblock_${numLayers}/LayerNorm_0/scale`)) numLayers++;
  const gridCells = posEmb.shape[1] ?? 0;
  const config: MusiqConfig = {
    hiddenSize: embedding.shape[1] ?? 0,
    numLayers,
    numHeads: query.shape[1] ?? 0,
    headDim: query.shape[2] ?? 0,
    mlpDim: mlp.shape[1] ?? 0,
    numClasses: head.shape[1] ?? 0,
    numScales: scaleEmb.shape[1] ?? 0,
    spatialPosGridSize: Math.round(Math.sqrt(gridCells)),
    stemChannels: conv3.shape[3] ?? 0,
  };
  const { hiddenSize: H, numHeads: heads, headDim: hd, mlpDim, numClasses } = config;
  if (numLayers === 0) problems.push('no Transformer/encoderblock_<i> found');
  if (heads * hd !== H) problems.push(`attention heads ${heads}×${hd} do not make hidden size ${H}`);
  if (config.spatialPosGridSize ** 2 !== gridCells) problems.push(`pos_embedding has ${gridCells} rows, not a square grid`);

  const rootWidth = params.get('conv_root/kernel')?.shape[3] ?? 0;
  const mid = params.get(`${UNIT}/conv1/kernel`)?.shape[3] ?? 0;
  const C = config.stemChannels;
  const expected = new Map<string, number[]>([
    ['conv_root/kernel', [7, 7, 3, rootWidth]],
    ['gn_root/scale', [rootWidth]],
    ['gn_root/bias', [rootWidth]],
    [`${UNIT}/conv_proj/kernel`, [1, 1, rootWidth, C]],
    [`${UNIT}/conv1/kernel`, [1, 1, rootWidth, mid]],
    [`${UNIT}/conv2/kernel`, [3, 3, mid, mid]],
    [`${UNIT}/conv3/kernel`, [1, 1, mid, C]],
    ['embedding/kernel', [64 * C, H]],
    ['embedding/bias', [H]],
    ['Transformer/posembed_input/pos_embedding', [1, gridCells, H]],
    ['Transformer/scaleembed_input/scale_embedding', [1, config.numScales, H]],
    ['Transformer/cls', [1, 1, H]],
    ['Transformer/encoder_norm/scale', [H]],
    ['Transformer/encoder_norm/bias', [H]],
    ['head/kernel', [H, numClasses]],
    ['head/bias', [numClasses]],
  ]);
  for (const [gn, width] of [['gn_proj', C], ['gn1', mid], ['gn2', mid], ['gn3', C]] as const) {
    expected.set(`${UNIT}/${gn}/scale`, [width]);
    expected.set(`${UNIT}/${gn}/bias`, [width]);
  }
  for (let i = 0; i < numLayers; i++) {
    const block = `Transformer/encoderblock_${i}`;
    for (const ln of ['LayerNorm_0', 'LayerNorm_2']) {
      expected.set(`${block}/${ln}/scale`, [H]);
      expected.set(`${block}/${ln}/bias`, [H]);
    }
    for (const proj of ['query', 'key', 'value']) {
      expected.set(`${block}/${ATTENTION}/${proj}/kernel`, [H, heads, hd]);
      expected.set(`${block}/${ATTENTION}/${proj}/bias`, [heads, hd]);
    }
    expected.set(`${block}/${ATTENTION}/out/kernel`, [heads, hd, H]);
    expected.set(`${block}/${ATTENTION}/out/bias`, [H]);
    expected.set(`${block}/MlpBlock_3/Dense_0/kernel`, [H, mlpDim]);
    expected.set(`${block}/MlpBlock_3/Dense_0/bias`, [mlpDim]);
    expected.set(`${block}/MlpBlock_3/Dense_1/kernel`, [mlpDim, H]);
    expected.set(`${block}/MlpBlock_3/Dense_1/bias`, [H]);
  }

  // GroupNorm parameters are (1,1,1,C) in flax checkpoints; (C) is accepted too.
  const validated = checker.validated(expected, (key, tensor) =>
    /(^|\/)gn/.test(key) ? tensor.shape.filter((d, i) => d !== 1 || i === tensor.shape.length - 1) : tensor.shape,
  );
  if (problems.length > 0) {
    throw new CheckpointError(`${source}: invalid MUSIQ checkpoint:\n  - ${problems.join('\n  - ')}`);
  }
  return { config, params: validated };
}
