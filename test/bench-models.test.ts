// Which models `bench` times: a cached model stands for a published checkpoint only when its sidecar has the
// full-size MUSIQ configuration and real weights; anything else (a tiny test model, demo weights) is replaced
// by the seeded full-size stand-in, and the output says which is which.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { benchModels, notBenchable } from '../ts/bench/run.js';
import { convertFrom } from '../ts/convert/convert-from.js';
import type { MusiqSidecar } from '../ts/convert/convert.js';
import { FULL_SIZE_CONFIG } from '../ts/convert/demo-model.js';
import { fixturePath } from './helpers/fixtures.js';

let dir: string;
let tiny: MusiqSidecar;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musiq-bench-models-'));
  tiny = (await convertFrom(fixturePath('ckpt_tiny_1class.npz'), join(dir, 'koniq.onnx'), { name: 'koniq' })) as MusiqSidecar;
  // The seeded stand-in, already generated (bench makes it once and caches it; its contents do not matter here).
  await writeFile(join(dir, 'bench-koniq.onnx'), '');
  await writeFile(join(dir, 'bench-koniq.onnx.json'), '{}');
});

const fullSize = (): MusiqSidecar => ({ ...tiny, config: { ...FULL_SIZE_CONFIG, numClasses: 1 } });

describe('bench models', () => {
  it('a cached tiny koniq.onnx is not used: the full-size stand-in is, and the log says why', async () => {
    const logs: string[] = [];
    const { paths, weights } = await benchModels(1, (line) => logs.push(line), dir);
    expect(paths).toEqual([join(dir, 'bench-koniq.onnx')]);
    expect(weights).toBe('seeded random weights (full-size MUSIQ configuration) for koniq: speed only, not scores');
    expect(logs).toEqual([
      'bench: not using the cached koniq.onnx: hidden 32, 2 layers, 2 heads, MLP 64, 1 class(es) is not the full-size MUSIQ configuration (hidden 384, 14 layers, 6 heads, MLP 1152, 1 class(es))',
      `bench: ${weights}`,
    ]);
  });

  it('a cached full-size koniq.onnx is used as real weights', async () => {
    await writeFile(join(dir, 'koniq.onnx.json'), JSON.stringify(fullSize()));
    const { paths, weights } = await benchModels(1, () => undefined, dir);
    expect(paths).toEqual([join(dir, 'koniq.onnx')]);
    expect(weights).toBe('real weights (cached) for koniq');
  });

  it('notBenchable: the head must match the slot, and demo weights are not real', () => {
    expect(notBenchable(fullSize(), 1)).toBeUndefined();
    expect(notBenchable(fullSize(), 10)).toMatch(/1 class\(es\) is not the full-size MUSIQ configuration .*10 class\(es\)\)$/);
    expect(notBenchable({ ...fullSize(), demo: 'demo weights' }, 1)).toBe('it has random weights');
  });
});
