// Builds the MUSIQ ONNX graph (musiq-semantics.md §10) from a validated parameter tree.
// Input `tokens` (batch, tokens, 3075): 3072 patch values, hash position, scale id, mask.
// Outputs `logits` (batch, classes) and `score` (batch): the logit for 1 class, the softmax expectation over
// 1..10 for 10 classes.
import type { GraphBuilder } from '../onnx/graph.js';
import { layerNorm, linear, ParamGraph } from '../onnx/layers.js';
import { PATCH_SIZE as PATCH, PATCH_VALUES, TOKEN_WIDTH } from '../preprocess/tokens.js';
import { STEM_CONVS, type MusiqConfig, type ParamTree, type Tensor } from './musiq-params.js';

const GN_GROUPS = 32;
const STEM_GRID = 8; // 32×32 patch → stride-2 conv → stride-2 max-pool → 8×8
const MASK_BIAS = -1e10;

/** Weight standardisation (resnet.weight_standardize) done once here, then HWIO → OIHW. */
export function standardizeConvKernel(kernel: Tensor): { data: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const perOut = kh * kw * cin;
  const out = new Float32Array(kernel.data.length);
  for (let o = 0; o < cout; o++) {
    let sum = 0;
    for (let i = 0; i < perOut; i++) sum += kernel.data[i * cout + o]!;
    const mean = sum / perOut;
    let sq = 0;
    for (let i = 0; i < perOut; i++) sq += (kernel.data[i * cout + o]! - mean) ** 2;
    const denom = Math.sqrt(sq / perOut) + 1e-5; // population std; eps is added to the std
    // HWIO index ((y·kw + x)·cin + c)·cout + o → OIHW index ((o·cin + c)·kh + y)·kw + x
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        for (let c = 0; c < cin; c++) {
          const src = ((y * kw + x) * cin + c) * cout + o;
          out[((o * cin + c) * kh + y) * kw + x] = (kernel.data[src]! - mean) / denom;
        }
      }
    }
  }
  return { data: out, dims: [cout, cin, kh, kw] };
}

/** Reorders embedding rows from NHWC flattening (h·8+w)·C + c to NCHW flattening c·64 + h·8 + w. */
function embeddingRowsForNchw(kernel: Tensor, channels: number): Float32Array {
  const hidden = kernel.shape[1]!;
  const cells = STEM_GRID * STEM_GRID;
  const out = new Float32Array(kernel.data.length);
  for (let c = 0; c < channels; c++) {
    for (let cell = 0; cell < cells; cell++) {
      const src = (cell * channels + c) * hidden;
      out.set(kernel.data.subarray(src, src + hidden), (c * cells + cell) * hidden);
    }
  }
  return out;
}

function scaled(data: Float32Array, factor: number): Float32Array {
  return data.map((v) => v * factor);
}

/** Concatenates (H, n_i) matrices along columns into (H, Σn_i). */
function concatColumns(rows: number, parts: Float32Array[]): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let offset = r * total;
    parts.forEach((part, i) => {
      out.set(part.subarray(r * widths[i]!, (r + 1) * widths[i]!), offset);
      offset += widths[i]!;
    });
  }
  return out;
}

class MusiqGraph extends ParamGraph {
  constructor(
    params: ParamTree,
    private readonly config: MusiqConfig,
  ) {
    super(params);
  }

  private slice(x: string, start: number, end: number, axis: number, name: string): string {
    const g = this.g;
    return g.op('Slice', [x, g.int64(`${name}_start`, [start]), g.int64(`${name}_end`, [end]), g.int64(`${name}_axis`, [axis])], {}, name);
  }

  private stdConv(x: string, key: string, stride: number, pads: number[]): string {
    const { data, dims } = standardizeConvKernel(this.p(`${key}/kernel`));
    const w = this.g.float(`${key}/kernel_standardized`, data, dims);
    const k = dims[2]!;
    return this.g.op('Conv', [x, w], { kernel_shape: [k, k], strides: [stride, stride], pads }, key);
  }

  /**
   * GroupNorm over contiguous channel groups per sample: reshape to (N, groups, rest), normalise each group
   * with InstanceNormalization (unit scale, zero bias), reshape back, then apply the per-channel affine.
   */
  private groupNorm(x: string, key: string, channels: number, spatial: number, eps: number): string {
    const g = this.g;
    const grouped = g.op('Reshape', [x, g.int64(`${key}/grouped_shape`, [0, GN_GROUPS, -1])]);
    const ones = g.float(`${key}/unit_scale`, new Float32Array(GN_GROUPS).fill(1), [GN_GROUPS]);
    const zeros = g.float(`${key}/zero_bias`, new Float32Array(GN_GROUPS), [GN_GROUPS]);
    const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { float: eps } });
    const back = g.op('Reshape', [normed, g.int64(`${key}/shape`, [-1, channels, spatial, spatial])]);
    const scale = this.weight(`${key}/scale`, [channels, 1, 1]);
    const bias = this.weight(`${key}/bias`, [channels, 1, 1]);
    return g.op('Add', [g.op('Mul', [back, scale]), bias], {}, key);
  }

  /** Per-patch ResNet stem and embedding: (N, 32, 32, 3) NHWC pixels → (N, hidden). */
  private stem(pixelsNhwc: string): string {
    const g = this.g;
    const { stemChannels: C, hiddenSize } = this.config;
    const rootWidth = this.p('conv_root/kernel').shape[3]!;
    const mid = this.p('block1/unit1/conv1/kernel').shape[3]!;
    const nchw = g.op('Transpose', [pixelsNhwc], { perm: [0, 3, 1, 2] });
    let x = this.stdConv(nchw, 'conv_root', 2, [2, 2, 3, 3]);
    x = g.op('Relu', [this.groupNorm(x, 'gn_root', rootWidth, 16, 1e-6)]);
    // Zero padding equals −inf padding here because the input is ≥ 0 after ReLU.
    x = g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] });
    const unit = 'block1/unit1';
    const gn = (y: string, name: string, width: number): string => this.groupNorm(y, `${unit}/${name}`, width, STEM_GRID, 1e-4);
    const [proj, conv1, conv2, conv3] = STEM_CONVS.map((c) => `${unit}/${c}`) as [string, string, string, string];
    const residual = gn(this.stdConv(x, proj, 1, [0, 0, 0, 0]), 'gn_proj', C);
    let y = g.op('Relu', [gn(this.stdConv(x, conv1, 1, [0, 0, 0, 0]), 'gn1', mid)]);
    y = g.op('Relu', [gn(this.stdConv(y, conv2, 1, [1, 1, 1, 1]), 'gn2', mid)]);
    y = gn(this.stdConv(y, conv3, 1, [0, 0, 0, 0]), 'gn3', C);
    const features = g.op('Relu', [g.op('Add', [residual, y])]);
    const flat = g.op('Reshape', [features, g.int64('stem_flat_shape', [-1, STEM_GRID * STEM_GRID * C])]);
    const kernel = g.float('embedding/kernel_nchw_rows', embeddingRowsForNchw(this.p('embedding/kernel'), C), [
      STEM_GRID * STEM_GRID * C,
      hiddenSize,
    ]);
    return g.op('Add', [g.op('MatMul', [flat, kernel]), this.weight('embedding/bias')], {}, 'embedding');
  }

  private layerNorm(x: string, key: string): string {
    return layerNorm(this.g, x, this.weight(`${key}/scale`), this.weight(`${key}/bias`), 1e-6);
  }

  private dense(x: string, key: string): string {
    return linear(this.g, x, this.weight(`${key}/kernel`), this.weight(`${key}/bias`));
  }

  /** tanh-approximation GELU (jax.nn.gelu default), written out for opset 17. */
  private gelu(x: string): string {
    const g = this.g;
    const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const inner = g.op('Add', [x, g.op('Mul', [cube, g.scalar('gelu_c', 0.044715)])]);
    const t = g.op('Tanh', [g.op('Mul', [inner, g.scalar('gelu_sqrt_2_over_pi', Math.sqrt(2 / Math.PI))])]);
    const half = g.op('Mul', [x, g.scalar('gelu_half', 0.5)]);
    return g.op('Mul', [half, g.op('Add', [t, g.scalar('gelu_one', 1)])]);
  }

  /** Multi-head self-attention with an additive key mask (batch, 1, 1, tokens). */
  private attention(y: string, block: string, keyBias: string): string {
    const g = this.g;
    const { hiddenSize: H, numHeads: heads, headDim: hd } = this.config;
    const att = `${block}/MultiHeadDotProductAttention_1`;
    // q/sqrt(hd) is folded into the query weights; q, k, v run as one MatMul.
    const qScale = 1 / Math.sqrt(hd);
    const kernel = concatColumns(H, [
      scaled(this.p(`${att}/query/kernel`).data, qScale),
      this.p(`${att}/key/kernel`).data,
      this.p(`${att}/value/kernel`).data,
    ]);
    const bias = new Float32Array(3 * H);
    bias.set(scaled(this.p(`${att}/query/bias`).data, qScale), 0);
    bias.set(this.p(`${att}/key/bias`).data, H);
    bias.set(this.p(`${att}/value/bias`).data, 2 * H);
    const qkv = g.op('Add', [g.op('MatMul', [y, g.float(`${att}/qkv_kernel`, kernel, [H, 3 * H])]), g.float(`${att}/qkv_bias`, bias, [3 * H])]);
    const heads4 = g.int64(`${att}/heads_shape`, [0, 0, 3, heads, hd]);
    // (B, N, 3, heads, hd) → (3, B, heads, N, hd)
    const split = g.op('Transpose', [g.op('Reshape', [qkv, heads4])], { perm: [2, 0, 3, 1, 4] });
    const [q, k, v] = [0, 1, 2].map((i) => g.op('Squeeze', [this.slice(split, i, i + 1, 0, `${att}/part${i}`), g.int64(`${att}/axis0`, [0])])) as [
      string,
      string,
      string,
    ];
    const logits = g.op('Add', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), keyBias]);
    const weights = g.op('Softmax', [logits], { axis: -1 });
    const context = g.op('Transpose', [g.op('MatMul', [weights, v])], { perm: [0, 2, 1, 3] });
    const merged = g.op('Reshape', [context, g.int64(`${att}/merge_shape`, [0, 0, H])]);
    const out = this.p(`${att}/out/kernel`);
    return g.op('Add', [g.op('MatMul', [merged, g.float(`${att}/out/kernel`, out.data, [H, H])]), this.weight(`${att}/out/bias`)]);
  }

  build(): GraphBuilder {
    const g = this.g;
    const { hiddenSize: H, numLayers, numClasses } = this.config;
    const tokens = g.input('tokens', ['batch', 'tokens', TOKEN_WIDTH]);
    const toIndex = (col: number, name: string): string =>
      g.op('Squeeze', [g.op('Cast', [this.slice(tokens, col, col + 1, 2, `${name}_column`)], { to: 7 }), g.int64(`${name}_axis`, [2])], {}, name);
    const hash = toIndex(PATCH_VALUES, 'hash_index');
    const scaleId = toIndex(PATCH_VALUES + 1, 'scale_index');
    const mask = this.slice(tokens, PATCH_VALUES + 2, PATCH_VALUES + 3, 2, 'mask'); // (B, T, 1)

    // The stem runs only on real patches (mask 1): padding rows of a batch cost no convolution. Their
    // embeddings stay 0, and attention never reads them.
    const pixels = g.op('Reshape', [this.slice(tokens, 0, PATCH_VALUES, 2, 'pixels'), g.int64('flat_pixels_shape', [-1, PATCH_VALUES])]);
    const flatMask = g.op('Reshape', [mask, g.int64('flat_mask_shape', [-1])]);
    const keep = g.op('Transpose', [g.op('NonZero', [g.op('Greater', [flatMask, g.scalar('zero', 0)])])], { perm: [1, 0] }); // (K, 1)
    const patches = g.op('Reshape', [g.op('GatherND', [pixels, keep]), g.int64('patch_shape', [-1, PATCH, PATCH, 3])]);
    const realEmbedded = this.stem(patches); // (K, H)
    const batchTokens = this.slice(g.op('Shape', [tokens]), 0, 2, 0, 'batch_tokens');
    const zeros = g.op('ConstantOfShape', [g.op('Concat', [g.op('Shape', [flatMask]), g.int64('hidden_dim', [H])], { axis: 0 })]);
    const embedded = g.op('ScatterND', [zeros, keep, realEmbedded]); // (B·T, H)
    const seqShape = g.op('Concat', [batchTokens, g.int64('hidden', [H])], { axis: 0 });
    let x = g.op('Reshape', [embedded, seqShape]);
    const pos = g.op('Gather', [this.weight('Transformer/posembed_input/pos_embedding', [this.config.spatialPosGridSize ** 2, H]), hash]);
    const scl = g.op('Gather', [this.weight('Transformer/scaleembed_input/scale_embedding', [this.config.numScales, H]), scaleId]);
    x = g.op('Add', [g.op('Add', [x, pos]), scl]);

    // CLS is prepended after the embeddings, with mask 1.
    const batch = this.slice(batchTokens, 0, 1, 0, 'batch');
    const clsShape = g.op('Concat', [batch, g.int64('one_hidden', [1, H])], { axis: 0 });
    const cls = g.op('Expand', [this.weight('Transformer/cls'), clsShape]);
    x = g.op('Concat', [cls, x], { axis: 1 });
    const clsMask = g.op('Expand', [g.float('cls_mask', Float32Array.of(1), [1, 1, 1]), g.op('Concat', [batch, g.int64('one_one', [1, 1])], { axis: 0 })]);
    const fullMask = g.op('Concat', [clsMask, mask], { axis: 1 }); // (B, N, 1)
    // (mask − 1)·1e10 → 0 for real tokens, −1e10 for padding; laid out as (B, 1, 1, N) over keys.
    const keyBias = g.op('Unsqueeze', [
      g.op('Transpose', [g.op('Mul', [g.op('Sub', [fullMask, g.scalar('one', 1)]), g.scalar('mask_bias', -MASK_BIAS)])], { perm: [0, 2, 1] }),
      g.int64('axis1', [1]),
    ]);

    for (let i = 0; i < numLayers; i++) {
      const block = `Transformer/encoderblock_${i}`;
      x = g.op('Add', [x, this.attention(this.layerNorm(x, `${block}/LayerNorm_0`), block, keyBias)], {}, `${block}_attn_out`);
      const y = this.layerNorm(x, `${block}/LayerNorm_2`);
      const hidden = this.gelu(this.dense(y, `${block}/MlpBlock_3/Dense_0`));
      x = g.op('Add', [x, this.dense(hidden, `${block}/MlpBlock_3/Dense_1`)], {}, `${block}_out`);
    }
    const encoded = this.layerNorm(x, 'Transformer/encoder_norm');
    const clsOut = g.op('Gather', [encoded, g.int64('cls_index', [0])], { axis: 1 }); // (B, 1, H)
    const logits = g.op('Reshape', [this.dense(clsOut, 'head'), g.int64('logits_shape', [-1, numClasses])]);
    g.output(logits, 'logits', ['batch', numClasses]);
    let score: string;
    if (numClasses === 1) {
      score = g.op('Reshape', [logits, g.int64('score_shape', [-1])]);
    } else {
      const ranks = Float32Array.from({ length: numClasses }, (_, k) => k + 1);
      const expectation = g.op('MatMul', [g.op('Softmax', [logits], { axis: -1 }), g.float('class_ranks', ranks, [numClasses, 1])]);
      score = g.op('Reshape', [expectation, g.int64('score_shape', [-1])]);
    }
    g.output(score, 'score', ['batch']);
    return g;
  }
}

export function buildMusiqGraph(params: ParamTree, config: MusiqConfig): GraphBuilder {
  return new MusiqGraph(params, config).build();
}
