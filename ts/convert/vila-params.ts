// The VILA-R image-branch parameter tree (vila.md §6): Pax variable paths below `params/`, configuration inferred
// from the shapes (so small test configurations convert too), and validation. Every source (.npz, SavedModel)
// produces a `ParamTree` plus the prompt embedding and goes through `vilaParamsFrom`.
import { CheckpointError, type ParamTree, type Tensor } from './musiq-params.js';
import { ParamChecker } from './param-check.js';

export interface VilaConfig {
  /** Side of the square model input (224). */
  imageSize: number;
  patchSize: number;
  modelDims: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  mlpDims: number;
  poolerHeads: number;
  poolerHeadDim: number;
  generativeQueries: number;
  /** One score per image (what the sources chain checks against the registry). */
  numClasses: 1;
}

export const VILA_KEY_PREFIX = 'params/';
export const VILA_TEXT_EMBEDDING_KEY = 'text_embedding/good_image';
export const VIT = 'encoder/transformers_stack';
export const POOLERS = ['generative_img_pooler', 'contrastive_img_pooler'] as const;
const PROJECTIONS = ['query', 'key', 'value', 'post'] as const;

/** Leaves of one ViT block, relative to `x_layers_<i>/`. */
export const VILA_BLOCK_LEAVES = [
  'ff_layer/ffn_layer1/bias/b',
  'ff_layer/ffn_layer1/linear/w',
  'ff_layer/ffn_layer2/bias/b',
  'ff_layer/ffn_layer2/linear/w',
  'ff_layer/layer_norm/bias',
  'ff_layer/layer_norm/scale',
  'layer_norm/bias',
  'layer_norm/scale',
  ...['key', 'post', 'query', 'value'].flatMap((p) => [`self_attention/${p}/b`, `self_attention/${p}/w`]),
];

/** Leaves of one attention pooler, relative to `<pooler>/`. */
export const VILA_POOLER_LEAVES = [
  ...PROJECTIONS.flatMap((p) => [`pool_attn/${p}/b`, `pool_attn/${p}/w`]),
  'pool_attn/per_dim_scale/per_dim_scale',
  'pool_attn_ln/bias',
  'pool_attn_ln/scale',
  'pooling_attn_query',
];

/** Leaves outside the blocks and the poolers. */
export const VILA_FIXED_LEAVES = [
  'encoder/entry_stack/patch_projection/bias/b',
  'encoder/entry_stack/patch_projection/linear/w',
  'encoder/entry_stack/pos_emb/emb_var',
  'encoder/exit_stack/ln/bias',
  'encoder/exit_stack/ln/scale',
  'residual_ffn/bias/b',
  'residual_ffn/linear/w',
];

/** Every parameter path of a VILA image branch with `numLayers` ViT blocks (unordered). */
export function vilaParamPaths(numLayers: number): string[] {
  return [
    ...VILA_FIXED_LEAVES,
    ...Array.from({ length: numLayers }, (_, i) => VILA_BLOCK_LEAVES.map((leaf) => `${VIT}/x_layers_${i}/${leaf}`)).flat(),
    ...POOLERS.flatMap((pooler) => VILA_POOLER_LEAVES.map((leaf) => `${pooler}/${leaf}`)),
  ];
}

/**
 * Validates a VILA parameter tree and the prompt embedding, and infers the configuration. Missing keys, wrong
 * shapes and non-finite values are reported together.
 */
export function vilaParamsFrom(
  params: ParamTree,
  textEmbedding: Tensor | undefined,
  source: string,
): { config: VilaConfig; params: ParamTree; textEmbedding: Float32Array } {
  const checker = new ParamChecker(params);
  const { problems } = checker;
  const get = (key: string): Tensor | undefined => checker.get(key);
  const projection = get('encoder/entry_stack/patch_projection/linear/w');
  const posEmb = get('encoder/entry_stack/pos_emb/emb_var');
  const query = get(`${VIT}/x_layers_0/self_attention/query/w`);
  const mlp = get(`${VIT}/x_layers_0/ff_layer/ffn_layer1/linear/w`);
  const poolerQuery = get('generative_img_pooler/pool_attn/query/w');
  const generative = get('generative_img_pooler/pooling_attn_query');
  if (!projection || !posEmb || !query || !mlp || !poolerQuery || !generative) {
    throw new CheckpointError(`${source} is not a VILA image-branch checkpoint: ${problems.join('; ')}`);
  }
  let numLayers = 0;
  while (params.has(`${VIT}/x_layers_${numLayers}/layer_norm/scale`)) numLayers++;
  const patchValues = projection.shape[0] ?? 0;
  const patchSize = Math.round(Math.sqrt(patchValues / 3));
  const numPatches = posEmb.shape[0] ?? 0;
  const grid = Math.round(Math.sqrt(numPatches));
  const config: VilaConfig = {
    imageSize: grid * patchSize,
    patchSize,
    modelDims: projection.shape[1] ?? 0,
    numLayers,
    numHeads: query.shape[1] ?? 0,
    headDim: query.shape[2] ?? 0,
    mlpDims: mlp.shape[1] ?? 0,
    poolerHeads: poolerQuery.shape[1] ?? 0,
    poolerHeadDim: poolerQuery.shape[2] ?? 0,
    generativeQueries: generative.shape[0] ?? 0,
    numClasses: 1,
  };
  const { modelDims: D, numHeads: N, headDim: H, mlpDims: F, poolerHeads: PN, poolerHeadDim: PH } = config;
  if (patchSize * patchSize * 3 !== patchValues) problems.push(`patch_projection/linear/w has ${patchValues} rows, not 3·p² for a square patch`);
  if (grid * grid !== numPatches) problems.push(`pos_emb/emb_var has ${numPatches} rows, not a square grid`);
  if (numLayers === 0) problems.push(`no ${VIT}/x_layers_<i> found`);

  const expected = new Map<string, number[]>([
    ['encoder/entry_stack/patch_projection/linear/w', [patchValues, D]],
    ['encoder/entry_stack/patch_projection/bias/b', [D]],
    ['encoder/entry_stack/pos_emb/emb_var', [numPatches, D]],
    ['encoder/exit_stack/ln/scale', [D]],
    ['encoder/exit_stack/ln/bias', [D]],
    ['residual_ffn/linear/w', [D, D]],
    ['residual_ffn/bias/b', [D]],
  ]);
  for (let i = 0; i < numLayers; i++) {
    const block = `${VIT}/x_layers_${i}`;
    for (const ln of ['layer_norm', 'ff_layer/layer_norm']) {
      expected.set(`${block}/${ln}/scale`, [D]);
      expected.set(`${block}/${ln}/bias`, [D]);
    }
    for (const p of ['query', 'key', 'value']) {
      expected.set(`${block}/self_attention/${p}/w`, [D, N, H]);
      expected.set(`${block}/self_attention/${p}/b`, [N, H]);
    }
    expected.set(`${block}/self_attention/post/w`, [D, N, H]);
    expected.set(`${block}/self_attention/post/b`, [D]);
    expected.set(`${block}/ff_layer/ffn_layer1/linear/w`, [D, F]);
    expected.set(`${block}/ff_layer/ffn_layer1/bias/b`, [F]);
    expected.set(`${block}/ff_layer/ffn_layer2/linear/w`, [F, D]);
    expected.set(`${block}/ff_layer/ffn_layer2/bias/b`, [D]);
  }
  for (const pooler of POOLERS) {
    for (const p of ['query', 'key', 'value']) {
      expected.set(`${pooler}/pool_attn/${p}/w`, [D, PN, PH]);
      expected.set(`${pooler}/pool_attn/${p}/b`, [PN, PH]);
    }
    expected.set(`${pooler}/pool_attn/post/w`, [D, PN, PH]);
    expected.set(`${pooler}/pool_attn/post/b`, [D]);
    expected.set(`${pooler}/pool_attn/per_dim_scale/per_dim_scale`, [PH]);
    expected.set(`${pooler}/pool_attn_ln/scale`, [D]);
    expected.set(`${pooler}/pool_attn_ln/bias`, [D]);
    // The contrastive pooler yields the one image embedding: one query.
    expected.set(`${pooler}/pooling_attn_query`, [pooler === 'generative_img_pooler' ? config.generativeQueries : 1, D]);
  }

  const validated = checker.validated(expected);
  if (!textEmbedding) problems.push(`missing the prompt embedding ${VILA_TEXT_EMBEDDING_KEY} [${D}]`);
  else if (checker.check(VILA_TEXT_EMBEDDING_KEY, textEmbedding, [D])) {
    const norm = Math.hypot(...textEmbedding.data);
    if (Math.abs(norm - 1) > 1e-3) problems.push(`${VILA_TEXT_EMBEDDING_KEY} has L2 norm ${norm}, expected a unit vector`);
  }
  if (problems.length > 0) {
    throw new CheckpointError(`${source}: invalid VILA checkpoint:\n  - ${problems.join('\n  - ')}`);
  }
  return { config, params: validated, textEmbedding: textEmbedding!.data };
}

/** One line for `convert` and `inspect`. */
export function describeVila(c: VilaConfig): string {
  return (
    `image ${c.imageSize}, patch ${c.patchSize}, width ${c.modelDims}, ${c.numLayers} layers, ${c.numHeads} heads of ${c.headDim}, ` +
    `MLP ${c.mlpDims}, poolers ${c.poolerHeads}×${c.poolerHeadDim} (${c.generativeQueries} + 1 queries)`
  );
}
