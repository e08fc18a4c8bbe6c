// TensorFlow DataType values (tensorflow/core/framework/types.proto): names as the fixtures' manifests write
// them, element sizes, and the numpy descr of the float types so checkpoint floats share `toFloat32`.
import type { NpyData } from '../npy.js';

export interface DtypeInfo {
  name: string;
  /** Bytes per element; 0 for types without a fixed-size encoding (string, resource, variant). */
  itemSize: number;
  /** numpy descr for types musiq-native can read as numbers. */
  npy?: string;
  make?: (buffer: ArrayBuffer, length: number) => NpyData;
}

export const DT_INT32 = 3;
export const DT_STRING = 7;

const DTYPES: Record<number, DtypeInfo> = {
  0: { name: 'invalid', itemSize: 0 },
  1: { name: 'float32', itemSize: 4, npy: '<f4', make: (b, n) => new Float32Array(b, 0, n) },
  2: { name: 'float64', itemSize: 8, npy: '<f8', make: (b, n) => new Float64Array(b, 0, n) },
  3: { name: 'int32', itemSize: 4, npy: '<i4', make: (b, n) => new Int32Array(b, 0, n) },
  4: { name: 'uint8', itemSize: 1, npy: '|u1', make: (b, n) => new Uint8Array(b, 0, n) },
  5: { name: 'int16', itemSize: 2, npy: '<i2', make: (b, n) => new Int16Array(b, 0, n) },
  6: { name: 'int8', itemSize: 1, npy: '|i1', make: (b, n) => new Int8Array(b, 0, n) },
  7: { name: 'string', itemSize: 0 },
  8: { name: 'complex64', itemSize: 8 },
  9: { name: 'int64', itemSize: 8, npy: '<i8', make: (b, n) => new BigInt64Array(b, 0, n) },
  10: { name: 'bool', itemSize: 1, npy: '|b1', make: (b, n) => new Uint8Array(b, 0, n) },
  11: { name: 'qint8', itemSize: 1 },
  12: { name: 'quint8', itemSize: 1 },
  13: { name: 'qint32', itemSize: 4 },
  14: { name: 'bfloat16', itemSize: 2, npy: '<V2', make: (b, n) => new Uint16Array(b, 0, n) },
  15: { name: 'qint16', itemSize: 2 },
  16: { name: 'quint16', itemSize: 2 },
  17: { name: 'uint16', itemSize: 2, npy: '<u2', make: (b, n) => new Uint16Array(b, 0, n) },
  18: { name: 'complex128', itemSize: 16 },
  19: { name: 'float16', itemSize: 2, npy: '<f2', make: (b, n) => new Uint16Array(b, 0, n) },
  20: { name: 'resource', itemSize: 0 },
  21: { name: 'variant', itemSize: 0 },
  22: { name: 'uint32', itemSize: 4, npy: '<u4', make: (b, n) => new Uint32Array(b, 0, n) },
  23: { name: 'uint64', itemSize: 8, npy: '<u8', make: (b, n) => new BigUint64Array(b, 0, n) },
};

/** Info for a DataType value; `*_REF` types (value + 100) are their base type. Unknown values get a placeholder. */
export function dtypeInfo(value: number): DtypeInfo {
  return DTYPES[value >= 100 ? value - 100 : value] ?? { name: `dtype(${value})`, itemSize: 0 };
}
