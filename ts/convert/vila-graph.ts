// Builds the VILA-R image-branch ONNX graph (vila.md §3–4, §7) from a validated parameter tree.
// Input `pixels` (batch, S, S, 3) NHWC in [0, 1]. Outputs `score` (batch): the cosine of the adapted image
// embedding with the prompt embedding; `embedding` (batch, D): the contrastive pooler's output `e`.
// Folded at conversion: LayerNorm gains 1 + scale, the poolers' image-independent queries, the unit prompt vector.
import type { GraphBuilder } from '../onnx/graph.js';
import { layerNorm, linear, ParamGraph, transposeMatrix } from '../onnx/layers.js';
import type { ParamTree } from './musiq-params.js';
import { POOLERS, VIT, type VilaConfig } from './vila-params.js';

const LN_EPSILON = 1e-6;
const L2_EPSILON = 1e-12;
const ATTENTION_LOGIT_CAP = 50;
/** praxis PerDimScale: 1/softplus(0), so an untrained scale of 0 gives exactly 1/sqrt(dim). */
const PER_DIM_SCALE_BASE = 1.442695041;

function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** x / sqrt(Σx² + 1e-12) in float64, rounded once (py_utils.l2_normalize). */
function l2Normalize(x: Float32Array): Float32Array {
  const norm = Math.sqrt(x.reduce((s, v) => s + v * v, 0) + L2_EPSILON);
  return x.map((v) => v / norm);
}

class VilaGraph extends ParamGraph {
  constructor(
    params: ParamTree,
    private readonly config: VilaConfig,
    private readonly textEmbedding: Float32Array,
  ) {
    super(params);
  }

  /** praxis LayerNorm: centred variance, eps 1e-6, gain 1 + scale (folded here). */
  private layerNorm(x: string, key: string): string {
    const gain = this.p(`${key}/scale`).data.map((v) => 1 + v);
    return layerNorm(this.g, x, this.g.float(`${key}/gain`, gain, [gain.length]), this.weight(`${key}/bias`), LN_EPSILON);
  }

  /** (B, T, D) → per-head (B, heads, T, dim) through a [D, heads, dim] projection with a [heads, dim] bias. */
  private heads(x: string, key: string, heads: number, dim: number): string {
    const g = this.g;
    const projected = linear(g, x, this.weight(`${key}/w`, [this.config.modelDims, heads * dim]), this.weight(`${key}/b`, [heads * dim]));
    return g.op('Transpose', [g.op('Reshape', [projected, g.int64(`${key}/split_shape`, [0, 0, heads, dim])])], { perm: [0, 2, 1, 3] });
  }

  /** Per-head context (B, heads, T, dim) → (B, T, D): einsum BTNH,DNH→BTD plus bias. */
  private post(context: string, key: string, heads: number, dim: number): string {
    const g = this.g;
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), g.int64(`${key}/merge_shape`, [0, 0, heads * dim])]);
    const D = this.config.modelDims;
    const w = g.float(`${key}/w_merged`, transposeMatrix(this.p(`${key}/w`).data, D, heads * dim), [heads * dim, D]);
    return linear(g, merged, w, this.weight(`${key}/b`));
  }

  /** softmax(q·kᵀ [capped]) · v over the last two axes. */
  private attend(q: string, k: string, v: string, cap: boolean): string {
    const g = this.g;
    let logits = g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]);
    if (cap) {
      const c = g.scalar('logit_cap', ATTENTION_LOGIT_CAP);
      logits = g.op('Mul', [g.op('Tanh', [g.op('Div', [logits, c])]), c]);
    }
    return g.op('MatMul', [g.op('Softmax', [logits], { axis: -1 }), v]);
  }

  private selfAttention(y: string, key: string): string {
    const { numHeads: N, headDim: H } = this.config;
    const q = this.g.op('Mul', [this.heads(y, `${key}/query`, N, H), this.g.scalar(`${key}/query_scale`, H ** -0.5)]);
    const context = this.attend(q, this.heads(y, `${key}/key`, N, H), this.heads(y, `${key}/value`, N, H), true);
    return this.post(context, `${key}/post`, N, H);
  }

  /** exact GELU: 0.5·x·(1 + erf(x/√2)). */
  private gelu(x: string): string {
    const g = this.g;
    const erf = g.op('Erf', [g.op('Div', [x, g.scalar('gelu_sqrt2', Math.SQRT2)])]);
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.scalar('gelu_one', 1)])]), g.scalar('gelu_half', 0.5)]);
  }

  /** The pooler's queries do not depend on the image: (Q₀·Wq + bq)·f, in float64, stored as (heads, Nq, dim). */
  private poolerQueries(key: string): string {
    const { modelDims: D, poolerHeads: N, poolerHeadDim: H } = this.config;
    const q0 = this.p(`${key}/pooling_attn_query`);
    const w = this.p(`${key}/pool_attn/query/w`).data;
    const b = this.p(`${key}/pool_attn/query/b`).data;
    const pds = this.p(`${key}/pool_attn/per_dim_scale/per_dim_scale`).data;
    const base = Math.fround(PER_DIM_SCALE_BASE / Math.sqrt(H));
    const scale = Array.from(pds, (s) => base * softplus(s));
    const nq = q0.shape[0]!;
    const out = new Float32Array(N * nq * H);
    const acc = new Float64Array(N * H);
    for (let i = 0; i < nq; i++) {
      acc.set(b);
      for (let d = 0; d < D; d++) {
        const x = q0.data[i * D + d]!;
        const row = d * N * H;
        for (let j = 0; j < N * H; j++) acc[j] += x * w[row + j]!;
      }
      for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) out[(n * nq + i) * H + h] = acc[n * H + h]! * scale[h]!;
    }
    return this.g.float(`${key}/scaled_queries`, out, [N, nq, H]);
  }

  /** AttenTokenPoolingLayer: learned queries attend over x (no logit cap, no residual), then LayerNorm. */
  private pooler(x: string, key: string): string {
    const { poolerHeads: N, poolerHeadDim: H } = this.config;
    const att = `${key}/pool_attn`;
    const context = this.attend(this.poolerQueries(key), this.heads(x, `${att}/key`, N, H), this.heads(x, `${att}/value`, N, H), false);
    return this.layerNorm(this.post(context, `${att}/post`, N, H), `${key}/pool_attn_ln`);
  }

  build(): GraphBuilder {
    const g = this.g;
    const { imageSize: S, patchSize: P, modelDims: D, numLayers } = this.config;
    const grid = S / P;
    const pixels = g.input('pixels', ['batch', S, S, 3]);
    // Patches row-major over the grid, each flattened in (row, col, channel) order.
    const blocks = g.op('Reshape', [pixels, g.int64('grid_shape', [-1, grid, P, grid, P, 3])]);
    const patches = g.op('Reshape', [
      g.op('Transpose', [blocks], { perm: [0, 1, 3, 2, 4, 5] }),
      g.int64('patches_shape', [-1, grid * grid, P * P * 3]),
    ]);
    const entry = 'encoder/entry_stack';
    let x = linear(g, patches, this.weight(`${entry}/patch_projection/linear/w`), this.weight(`${entry}/patch_projection/bias/b`));
    x = g.op('Add', [x, this.weight(`${entry}/pos_emb/emb_var`)]);
    for (let i = 0; i < numLayers; i++) {
      const block = `${VIT}/x_layers_${i}`;
      x = g.op('Add', [x, this.selfAttention(this.layerNorm(x, `${block}/layer_norm`), `${block}/self_attention`)], {}, `${block}_attn_out`);
      const ff = `${block}/ff_layer`;
      const y = this.layerNorm(x, `${ff}/layer_norm`);
      const hidden = this.gelu(linear(g, y, this.weight(`${ff}/ffn_layer1/linear/w`), this.weight(`${ff}/ffn_layer1/bias/b`)));
      x = g.op('Add', [x, linear(g, hidden, this.weight(`${ff}/ffn_layer2/linear/w`), this.weight(`${ff}/ffn_layer2/bias/b`))], {}, `${block}_out`);
    }
    const tokens = this.layerNorm(x, 'encoder/exit_stack/ln');
    const [generative, contrastive] = POOLERS;
    const pooled = this.pooler(tokens, generative);
    const embedding = g.op('Reshape', [this.pooler(pooled, contrastive), g.int64('embedding_shape', [-1, D])]);
    g.output(embedding, 'embedding', ['batch', D]);

    const adapted = g.op('Add', [embedding, linear(g, embedding, this.weight('residual_ffn/linear/w'), this.weight('residual_ffn/bias/b'))]);
    const norm = g.op('Sqrt', [g.op('Add', [g.op('ReduceSumSquare', [adapted], { axes: [-1], keepdims: 1 }), g.scalar('l2_epsilon', L2_EPSILON)])]);
    const prompt = g.float('text_embedding_normalized', l2Normalize(this.textEmbedding), [D, 1]);
    const cosine = g.op('MatMul', [g.op('Div', [adapted, norm]), prompt]);
    g.output(g.op('Reshape', [cosine, g.int64('score_shape', [-1])]), 'score', ['batch']);
    return g;
  }
}

export function buildVilaGraph(params: ParamTree, config: VilaConfig, textEmbedding: Float32Array): GraphBuilder {
  return new VilaGraph(params, config, textEmbedding).build();
}
