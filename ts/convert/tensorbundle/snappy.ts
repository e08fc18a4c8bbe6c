// Snappy raw-block decompression (https://github.com/google/snappy/blob/main/format_description.txt), for
// index blocks that TensorFlow wrote with compression type 1. The output size is declared up front and every
// literal and back-reference is checked against it, so a corrupt block fails instead of growing or looping.
import { ByteReader } from './bytes.js';

const LITERAL = 0;
const COPY_1 = 1;
const COPY_2 = 2;
// The best a snappy element can do is a 3-byte copy of 64 bytes, so no stream expands more than 64/3 times.
const MAX_EXPANSION = 22;

export function snappyDecompress(input: Uint8Array, what: string): Uint8Array {
  const reader = new ByteReader(input, `${what} (snappy)`);
  const length = reader.varint();
  if (length > input.length * MAX_EXPANSION) reader.fail(`declares ${length} uncompressed bytes, more than ${input.length} compressed bytes can hold`);
  const out = new Uint8Array(length);
  let pos = 0;
  while (reader.remaining > 0) {
    const tag = reader.take(1)[0]!;
    const kind = tag & 3;
    if (kind === LITERAL) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = reader.take(n - 59);
        n = bytes.reduceRight((acc, b) => acc * 256 + b, 0);
      }
      n += 1;
      if (n > length - pos) reader.fail(`literal of ${n} bytes overflows the declared ${length} bytes`);
      out.set(reader.take(n), pos);
      pos += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === COPY_1) {
      n = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | reader.take(1)[0]!;
    } else {
      n = (tag >>> 2) + 1;
      const bytes = reader.take(kind === COPY_2 ? 2 : 4);
      offset = bytes.reduceRight((acc, b) => acc * 256 + b, 0);
    }
    if (offset === 0 || offset > pos) reader.fail(`copy offset ${offset} points outside the ${pos} bytes written`);
    if (n > length - pos) reader.fail(`copy of ${n} bytes overflows the declared ${length} bytes`);
    // Byte by byte: a copy may overlap its own output (offset < n repeats a pattern).
    for (let i = 0; i < n; i++, pos++) out[pos] = out[pos - offset]!;
  }
  if (pos !== length) reader.fail(`decompressed to ${pos} bytes, ${length} declared`);
  return out;
}
