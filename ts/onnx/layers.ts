// Graph pieces shared by the model builders (MUSIQ, VILA): written once so both graphs compute them alike.
import type { ParamTree, Tensor } from '../convert/musiq-params.js';
import { GraphBuilder } from './graph.js';

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

/** A graph under construction from a validated parameter tree: parameters become initializers by their key. */
export class ParamGraph {
  readonly g = new GraphBuilder();
  constructor(protected readonly params: ParamTree) {}

  protected p(key: string): Tensor {
    const tensor = this.params.get(key);
    if (!tensor) throw new Error(`internal: parameter ${key} not validated`);
    return tensor;
  }

  protected weight(key: string, dims?: number[]): string {
    const t = this.p(key);
    return this.g.float(key, t.data, dims ?? t.shape);
  }
}
