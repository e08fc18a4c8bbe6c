// FLOPs of one MUSIQ forward pass, from the layers of the graph musiq-graph.ts builds and the number of
// tokens (a multiply-add counts 2, as in musiq-semantics.md §12). Element-wise ops, norms and softmax are
// left out: they are a few percent of the total and do not run on the GEMM units the ceiling measures.
import type { MusiqConfig } from '../convert/musiq-params.js';

const PATCH = 32;

/** Convolution FLOPs: output positions × output channels × kernel volume × 2. */
function conv(outSide: number, outChannels: number, kernel: number, inChannels: number): number {
  return outSide * outSide * outChannels * kernel * kernel * inChannels * 2;
}

export interface MusiqFlops {
  stem: number;
  embedding: number;
  encoderLinear: number;
  attention: number;
  head: number;
  total: number;
}

/** FLOPs for one image with `tokens` real tokens (padding excluded; CLS is added here). */
export function musiqFlops(config: MusiqConfig, tokens: number): MusiqFlops {
  const { hiddenSize: H, numLayers: L, mlpDim: M, stemChannels: C, numClasses } = config;
  const root = C / 4; // conv_root width; the bottleneck's middle width is the same
  const rootSide = PATCH / 2; // 7×7 stride 2 → 16×16
  const unitSide = rootSide / 2; // max-pool stride 2 → 8×8
  const stemPerPatch =
    conv(rootSide, root, 7, 3) + // conv_root
    conv(unitSide, C, 1, root) + // conv_proj
    conv(unitSide, root, 1, root) + // conv1
    conv(unitSide, root, 3, root) + // conv2
    conv(unitSide, C, 1, root); // conv3
  const embeddingPerPatch = unitSide * unitSide * C * H * 2;
  const n = tokens + 1; // CLS
  // Per layer and token: q, k, v and out projections (4·H²) and the two MLP layers (2·H·M), ×2 for multiply-add.
  const encoderLinear = L * n * 2 * (4 * H * H + 2 * H * M);
  // Per layer: q·kᵀ and p·v, each n² · H multiply-adds.
  const attention = L * 4 * H * n * n;
  const head = H * numClasses * 2;
  const stem = tokens * stemPerPatch;
  const embedding = tokens * embeddingPerPatch;
  return { stem, embedding, encoderLinear, attention, head, total: stem + embedding + encoderLinear + attention + head };
}
