// Parser for the .npy array format (versions 1, 2 and 3). The header is a Python dict literal; it is parsed as
// data with a small tokenizer, never evaluated. Only little-endian numeric dtypes are accepted.

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  /** numpy dtype string as stored, e.g. `<f4`. */
  dtype: string;
  shape: number[];
  /** Elements in C (row-major) order, whatever the file's order was. */
  data: NpyData;
}

export interface NpyHeader {
  dtype: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the array data from the start of the .npy bytes. */
  dataOffset: number;
  /** Number of data bytes the header implies. */
  dataBytes: number;
}

export class NpyFormatError extends Error {
  override name = 'NpyFormatError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER_BYTES = 1 << 20;

interface DtypeInfo {
  itemSize: number;
  make: (buffer: ArrayBuffer, byteOffset: number, length: number) => NpyData;
}

// bfloat16 (`<V2` in numpy files written from JAX) and float16 are read as raw 16-bit words; callers upcast them.
const DTYPES: Record<string, DtypeInfo> = {
  f4: { itemSize: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  f8: { itemSize: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  f2: { itemSize: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  V2: { itemSize: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i1: { itemSize: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  u1: { itemSize: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  b1: { itemSize: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  i2: { itemSize: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  u2: { itemSize: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i4: { itemSize: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  u4: { itemSize: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  i8: { itemSize: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  u8: { itemSize: 8, make: (b, o, n) => new BigUint64Array(b, o, n) },
};

function dtypeInfo(descr: string): DtypeInfo {
  const order = descr[0];
  const code = descr.slice(1);
  const info = DTYPES[code];
  const singleByte = info !== undefined && info.itemSize === 1;
  if (info === undefined || !(order === '<' || (order === '|' && singleByte) || (order === '=' && singleByte))) {
    throw new NpyFormatError(
      `unsupported dtype '${descr}': musiq-native reads little-endian float16/32/64, bfloat16 (<V2), bool and integer arrays`,
    );
  }
  return info;
}

type PyValue = string | boolean | number[] | number;

// Tokenizes the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
function parseHeaderDict(text: string): Map<string, PyValue> {
  let pos = 0;
  const fail = (what: string): never => {
    throw new NpyFormatError(`bad .npy header (${what} at character ${pos}): ${JSON.stringify(text.slice(0, 120))}`);
  };
  const skipSpace = (): void => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  const expect = (ch: string): void => {
    skipSpace();
    if (text[pos] !== ch) fail(`expected '${ch}'`);
    pos++;
  };
  const parseString = (): string => {
    skipSpace();
    const quote = text[pos];
    if (quote !== "'" && quote !== '"') fail('expected a string');
    const end = text.indexOf(quote!, pos + 1);
    if (end < 0) fail('unterminated string');
    const value = text.slice(pos + 1, end);
    pos = end + 1;
    return value;
  };
  const parseInt = (): number => {
    skipSpace();
    const match = /^[0-9]+L?/.exec(text.slice(pos, pos + 24));
    if (!match) fail('expected an integer');
    pos += match![0].length;
    const value = Number(match![0].replace('L', ''));
    if (!Number.isSafeInteger(value)) fail('integer too large');
    return value;
  };
  const parseValue = (): PyValue => {
    skipSpace();
    const ch = text[pos];
    if (ch === "'" || ch === '"') return parseString();
    if (text.startsWith('True', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('False', pos)) {
      pos += 5;
      return false;
    }
    if (ch === '(') {
      pos++;
      const items: number[] = [];
      for (;;) {
        skipSpace();
        if (text[pos] === ')') {
          pos++;
          return items;
        }
        items.push(parseInt());
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== ')') fail("expected ',' or ')'");
        if (items.length > 32) fail('too many dimensions');
      }
    }
    if (ch !== undefined && /[0-9]/.test(ch)) return parseInt();
    return fail('unsupported value');
  };

  const entries = new Map<string, PyValue>();
  expect('{');
  for (;;) {
    skipSpace();
    if (text[pos] === '}') {
      pos++;
      break;
    }
    const key = parseString();
    expect(':');
    entries.set(key, parseValue());
    skipSpace();
    if (text[pos] === ',') pos++;
    else if (text[pos] !== '}') fail("expected ',' or '}'");
  }
  skipSpace();
  if (pos !== text.length) fail('trailing characters');
  return entries;
}

interface HeaderExtent {
  major: number;
  headerStart: number;
  headerLength: number;
}

/** Magic, version and header length from the first bytes; undefined while too few bytes are there to tell. */
function headerExtent(bytes: Uint8Array): HeaderExtent | undefined {
  if (bytes.length < 10) return undefined;
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyFormatError('not a .npy array (magic \\x93NUMPY missing)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let extent: HeaderExtent;
  if (major === 1) {
    extent = { major, headerStart: 10, headerLength: view.getUint16(8, true) };
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) return undefined;
    extent = { major, headerStart: 12, headerLength: view.getUint32(8, true) };
  } else {
    throw new NpyFormatError(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (extent.headerLength > MAX_HEADER_BYTES) throw new NpyFormatError(`.npy header length ${extent.headerLength} is implausible`);
  return extent;
}

/**
 * How many bytes the header of a .npy stream takes (magic, version, length and dict), from its first bytes;
 * undefined while `prefix` is too short to tell. Lets a reader parse the header before it has the data.
 */
export function npyHeaderBytes(prefix: Uint8Array): number | undefined {
  const extent = headerExtent(prefix);
  return extent && extent.headerStart + extent.headerLength;
}

/** Parses the magic, version and header dict from the first bytes of a .npy stream. */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  const extent = headerExtent(bytes);
  if (!extent) {
    throw new NpyFormatError(bytes.length < 10 ? 'not a .npy array (magic \\x93NUMPY missing)' : 'truncated .npy header');
  }
  const { major, headerStart, headerLength } = extent;
  if (headerStart + headerLength > bytes.length) {
    throw new NpyFormatError(`.npy header claims ${headerLength} bytes but only ${bytes.length - headerStart} follow`);
  }
  const raw = bytes.subarray(headerStart, headerStart + headerLength);
  const text = (major === 3 ? new TextDecoder('utf-8') : new TextDecoder('latin1')).decode(raw);
  const dict = parseHeaderDict(text.trim());

  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') throw new NpyFormatError(".npy header lacks a string 'descr'");
  if (typeof fortran !== 'boolean') throw new NpyFormatError(".npy header lacks a boolean 'fortran_order'");
  if (!Array.isArray(shape)) throw new NpyFormatError(".npy header lacks a tuple 'shape'");
  const { itemSize } = dtypeInfo(descr);
  let count = 1;
  for (const dim of shape) {
    count *= dim;
    if (!Number.isSafeInteger(count * itemSize)) throw new NpyFormatError(`.npy shape (${shape.join(', ')}) is too large`);
  }
  return {
    dtype: descr,
    fortranOrder: fortran,
    shape,
    dataOffset: headerStart + headerLength,
    dataBytes: count * itemSize,
  };
}

function fortranToC(data: NpyData, shape: number[]): NpyData {
  if (shape.length < 2) return data;
  const out = new (data.constructor as new (n: number) => NpyData)(data.length);
  const rank = shape.length;
  // Fortran strides: the first axis is contiguous.
  const fStride = new Array<number>(rank);
  fStride[0] = 1;
  for (let k = 1; k < rank; k++) fStride[k] = fStride[k - 1]! * shape[k - 1]!;
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let dst = 0; dst < data.length; dst++) {
    (out as { [i: number]: unknown })[dst] = data[src];
    // Advance the C-order counter (last axis fastest) and keep the Fortran offset in step.
    for (let k = rank - 1; k >= 0; k--) {
      index[k]!++;
      src += fStride[k]!;
      if (index[k]! < shape[k]!) break;
      src -= fStride[k]! * shape[k]!;
      index[k] = 0;
    }
  }
  return out;
}

/**
 * Wraps the bytes of a whole .npy file as a typed array. The array shares `bytes` when its data is aligned
 * and already in C order, so reading a checkpoint keeps one copy of each tensor.
 */
export function parseNpy(bytes: Uint8Array): NpyArray {
  const header = parseNpyHeader(bytes);
  const available = bytes.length - header.dataOffset;
  if (available !== header.dataBytes) {
    throw new NpyFormatError(
      `.npy header (dtype ${header.dtype}, shape (${header.shape.join(', ')})) implies ${header.dataBytes} data bytes but ${available} are present`,
    );
  }
  const info = dtypeInfo(header.dtype);
  const count = header.dataBytes / info.itemSize;
  const start = bytes.byteOffset + header.dataOffset;
  let data: NpyData;
  if (start % info.itemSize === 0) {
    data = info.make(bytes.buffer as ArrayBuffer, start, count);
  } else {
    const copy = new Uint8Array(header.dataBytes);
    copy.set(bytes.subarray(header.dataOffset));
    data = info.make(copy.buffer, 0, count);
  }
  if (header.fortranOrder) data = fortranToC(data, header.shape);
  return { dtype: header.dtype, shape: header.shape, data };
}
