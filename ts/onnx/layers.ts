// Graph pieces shared by the model builders (MUSIQ, VILA): written once so both graphs compute them alike.
import type { GraphBuilder } from './graph.js';

/** LayerNormalization over the last axis with the given gain and bias initializers. */
export function layerNorm(g: GraphBuilder, x: string, gain: string, bias: string, epsilon: number): string {
  return g.op('LayerNormalization', [x, gain, bias], { axis: -1, epsilon: { float: epsilon } });
}

/** x·W + b. */
export function linear(g: GraphBuilder, x: string, weight: string, bias: string): string {
  return g.op('Add', [g.op('MatMul', [x, weight]), bias]);
}

/** Row-major (rows, cols) → (cols, rows). */
export function transposeMatrix(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}
