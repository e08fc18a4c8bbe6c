// The built-in `demo` model: the real MUSIQ configuration with seeded random weights, so the whole pipeline
// runs offline at real cost. Its outputs are labelled everywhere as demo numbers, not quality scores.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../cache-dir.js';
import { sidecarPath, writeMusiqModel } from './convert.js';
import type { MusiqConfig, ParamTree, Tensor } from './musiq-params.js';

export const DEMO_LABEL = 'demo weights (seeded random): these numbers are not quality scores';

/** The published MUSIQ configuration (run_predict_image._MODEL_CONFIG). */
export const FULL_SIZE_CONFIG: Omit<MusiqConfig, 'numClasses'> = {
  hiddenSize: 384,
  numLayers: 14,
  numHeads: 6,
  headDim: 64,
  mlpDim: 1152,
  numScales: 3,
  spatialPosGridSize: 10,
  stemChannels: 256,
};

const DEMO_SEED = 20211001;

/** mulberry32 with Box–Muller: small, seedable, and identical on every platform. */
function normalGenerator(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * A MUSIQ parameter tree with the real key names and the given shapes, filled with seeded random values
 * scaled like an initialised network (fan-in scaling, unit norms), so activations stay finite.
 */
export function syntheticMusiqParams(config: MusiqConfig, seed: number): ParamTree {
  const normal = normalGenerator(seed);
  const params: ParamTree = new Map();
  const random = (key: string, shape: number[], std: number, mean = 0): void => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = mean + std * normal();
    params.set(key, { shape, data } satisfies Tensor);
  };
  const constant = (key: string, shape: number[], value: number): void => {
    params.set(key, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value) });
  };
  const { hiddenSize: H, numHeads: heads, headDim: hd, mlpDim, numClasses, stemChannels: C } = config;
  const mid = C / 4;
  const rootWidth = mid;
  const norm = (key: string, width: number): void => {
    random(`${key}/scale`, [1, 1, 1, width], 0.1, 1);
    random(`${key}/bias`, [1, 1, 1, width], 0.1);
  };
  random('conv_root/kernel', [7, 7, 3, rootWidth], 1);
  norm('gn_root', rootWidth);
  const unit = 'block1/unit1';
  random(`${unit}/conv_proj/kernel`, [1, 1, rootWidth, C], 1);
  norm(`${unit}/gn_proj`, C);
  random(`${unit}/conv1/kernel`, [1, 1, rootWidth, mid], 1);
  norm(`${unit}/gn1`, mid);
  random(`${unit}/conv2/kernel`, [3, 3, mid, mid], 1);
  norm(`${unit}/gn2`, mid);
  random(`${unit}/conv3/kernel`, [1, 1, mid, C], 1);
  norm(`${unit}/gn3`, C);
  random('embedding/kernel', [64 * C, H], 1 / Math.sqrt(64 * C));
  random('embedding/bias', [H], 0.02);
  random('Transformer/posembed_input/pos_embedding', [1, config.spatialPosGridSize ** 2, H], 0.02);
  random('Transformer/scaleembed_input/scale_embedding', [1, config.numScales, H], 0.02);
  random('Transformer/cls', [1, 1, H], 0.02);
  for (let i = 0; i < config.numLayers; i++) {
    const block = `Transformer/encoderblock_${i}`;
    const att = `${block}/MultiHeadDotProductAttention_1`;
    for (const ln of ['LayerNorm_0', 'LayerNorm_2']) {
      constant(`${block}/${ln}/scale`, [H], 1);
      constant(`${block}/${ln}/bias`, [H], 0);
    }
    for (const proj of ['query', 'key', 'value']) {
      random(`${att}/${proj}/kernel`, [H, heads, hd], 1 / Math.sqrt(H));
      random(`${att}/${proj}/bias`, [heads, hd], 0.02);
    }
    random(`${att}/out/kernel`, [heads, hd, H], 1 / Math.sqrt(H));
    random(`${att}/out/bias`, [H], 0.02);
    random(`${block}/MlpBlock_3/Dense_0/kernel`, [H, mlpDim], 1 / Math.sqrt(H));
    random(`${block}/MlpBlock_3/Dense_0/bias`, [mlpDim], 0.02);
    random(`${block}/MlpBlock_3/Dense_1/kernel`, [mlpDim, H], 1 / Math.sqrt(mlpDim));
    random(`${block}/MlpBlock_3/Dense_1/bias`, [H], 0.02);
  }
  constant('Transformer/encoder_norm/scale', [H], 1);
  constant('Transformer/encoder_norm/bias', [H], 0);
  // One-logit heads centred on 50 so demo numbers look like the 0..100 scale they are not.
  random('head/kernel', [H, numClasses], numClasses === 1 ? 10 / Math.sqrt(H) : 1 / Math.sqrt(H));
  constant('head/bias', [numClasses], numClasses === 1 ? 50 : 0);
  return params;
}

/**
 * Path of a full-size model with seeded random weights, generated and cached on first use. `demo` is the
 * 1-class one the README uses; `bench` makes more (other seeds, the 10-class head) to stand in for the four
 * MUSIQ checkpoints when their real weights are not cached.
 */
export async function ensureSyntheticModel(
  name: string,
  numClasses: number,
  seed: number,
  dir: string = join(cacheDir(), 'models'),
): Promise<string> {
  const path = join(dir, `${name}.onnx`);
  if (existsSync(path) && existsSync(sidecarPath(path))) return path;
  const params = syntheticMusiqParams({ ...FULL_SIZE_CONFIG, numClasses }, seed);
  await writeMusiqModel(params, path, {
    name,
    source: { kind: 'synthetic', file: `seed:${seed}`, sha256: '' },
    demo: DEMO_LABEL,
  });
  return path;
}

/** Path of the demo model, generating and caching it on first use. */
export function ensureDemoModel(dir?: string): Promise<string> {
  return ensureSyntheticModel('demo', 1, DEMO_SEED, dir);
}
