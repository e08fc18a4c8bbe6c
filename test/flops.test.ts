import { describe, expect, it } from 'vitest';
import { musiqFlops } from '../ts/bench/flops.js';
import { FULL_SIZE_CONFIG } from '../ts/convert/demo-model.js';

describe('musiqFlops', () => {
  it('matches a hand calculation for a small configuration', () => {
    // hidden 32, 2 layers, 2 heads, MLP 64, 1 class, stem 256 channels (64 wide), 10 tokens (N = 11 with CLS).
    const config = { hiddenSize: 32, numLayers: 2, numHeads: 2, headDim: 16, mlpDim: 64, numClasses: 1, numScales: 3, spatialPosGridSize: 10, stemChannels: 256 };
    // Stem per patch, 2·(positions · out · k² · in):
    //   conv_root 16·16·64·49·3·2 = 4,816,896   conv_proj 8·8·256·64·2 = 2,097,152   conv1 8·8·64·64·2 = 524,288
    //   conv2 8·8·64·9·64·2 = 4,718,592          conv3 8·8·256·64·2 = 2,097,152         sum = 14,254,080
    // Embedding per patch: 16384·32·2 = 1,048,576
    // Encoder linear: 2 layers · 11 tokens · 2 · (4·32² + 2·32·64) = 2·11·2·8192 = 360,448
    // Attention: 2 layers · 4 · 32 · 11² = 30,976;  head: 32·1·2 = 64
    const f = musiqFlops(config, 10);
    expect(f.stem).toBe(10 * 14_254_080);
    expect(f.embedding).toBe(10 * 1_048_576);
    expect(f.encoderLinear).toBe(360_448);
    expect(f.attention).toBe(30_976);
    expect(f.total).toBe(142_540_800 + 10_485_760 + 360_448 + 30_976 + 64);
  });

  it('agrees with the published per-token costs of the full-size model (musiq-semantics.md §12)', () => {
    const f = musiqFlops({ ...FULL_SIZE_CONFIG, numClasses: 1 }, 768 + 193); // 1024×768, mode A: N = 962
    expect(f.encoderLinear / 962 / 1e6).toBeCloseTo(41.29, 1); // "41.29 MFLOP per token"
    expect((f.stem + f.embedding) / 961 / 1e6).toBeCloseTo(26.84, 1); // "26.84 MFLOP per patch"
    expect(f.attention / 962 ** 2).toBe(21_504); // "21,504·N²"
  });
});
