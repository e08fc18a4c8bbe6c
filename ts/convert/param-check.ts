// Checks a parameter tree against the shapes a configuration implies (MUSIQ and VILA alike), collecting every
// problem (missing key, wrong shape, non-finite value) so that a user sees all that is wrong at once.
import type { ParamTree, Tensor } from './musiq-params.js';

export const describeDims = (shape: readonly number[]): string => `(${shape.join(',')})`;

export class ParamChecker {
  readonly problems: string[] = [];
  constructor(private readonly params: ParamTree) {}

  /** The tensor at `key`, or undefined with a `missing` problem recorded. */
  get(key: string): Tensor | undefined {
    const tensor = this.params.get(key);
    if (!tensor) this.problems.push(`missing ${key}`);
    return tensor;
  }

  /**
   * Whether `tensor` has `shape` (compared through `comparable`, for layouts that store extra unit dimensions)
   * and only finite values; records the problem when not.
   */
  check(key: string, tensor: Tensor, shape: readonly number[], comparable: readonly number[] = tensor.shape): boolean {
    if (describeDims(comparable) !== describeDims(shape)) {
      this.problems.push(`${key} has shape ${describeDims(tensor.shape)}, expected ${describeDims(shape)}`);
      return false;
    }
    const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) this.problems.push(`${key} holds a non-finite value (${tensor.data[bad]}) at index ${bad}`);
    return bad < 0;
  }

  /** The expected parameters that pass `check`, reshaped to the expected shapes. */
  validated(expected: ReadonlyMap<string, number[]>, comparable?: (key: string, tensor: Tensor) => readonly number[]): ParamTree {
    const out: ParamTree = new Map();
    for (const [key, shape] of expected) {
      const tensor = this.get(key);
      if (tensor && this.check(key, tensor, shape, comparable?.(key, tensor))) out.set(key, { shape, data: tensor.data });
    }
    return out;
  }
}
