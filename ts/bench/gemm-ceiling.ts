// The machine's own limit for this workload: GFLOP/s of one ONNX MatMul of transformer shape (tokens × hidden
// × MLP width), run by the same ONNX Runtime build, device and thread count as the benchmark.
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph.js';
import { createModelSession, type SessionOptions } from '../runtime/session.js';

export interface GemmCeiling {
  shape: [number, number, number];
  gflops: number;
}

export async function measureGemmCeiling(
  options: SessionOptions & { m?: number; k?: number; n?: number; seconds?: number } = {},
): Promise<GemmCeiling> {
  const { m = 1024, k = 384, n = 1152, seconds = 2 } = options;
  const g = new GraphBuilder();
  const x = g.input('x', [m, k]);
  const weights = Float32Array.from({ length: k * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  g.output(g.op('MatMul', [x, g.float('w', weights, [k, n])]), 'y', [m, n]);
  const model = g.serialize({ producerVersion: 'bench', docString: 'GEMM ceiling', metadata: {} });
  const { session } = await createModelSession(model, { ...options, log: undefined });
  try {
    const input = new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5), [m, k]);
    await session.run({ x: input }); // warm-up
    let runs = 0;
    const started = performance.now();
    while (performance.now() - started < seconds * 1000) {
      await session.run({ x: input });
      runs++;
    }
    const elapsed = (performance.now() - started) / 1000;
    return { shape: [m, k, n], gflops: (2 * m * k * n * runs) / elapsed / 1e9 };
  } finally {
    await session.release();
  }
}
