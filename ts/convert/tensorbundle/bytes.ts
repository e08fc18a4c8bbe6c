// Bounds-checked reading of varints and fixed-width little-endian integers. Every read checks the end of the
// buffer first, so a truncated or corrupt length can only produce an error, never a read past the data.
import { TensorBundleError } from './error.js';

export class ByteReader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    /** Describes the data in error messages, e.g. `variables.index data block 0`. */
    readonly what: string,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  fail(message: string): never {
    throw new TensorBundleError(`${this.what}: ${message} (at byte ${this.pos})`);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** A varint of at most 64 bits, as a Number; values above 2^53 are rejected (no offset or length is that big). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('varint runs past the end');
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) this.fail(`varint ${result} is too large`);
        return result;
      }
      scale *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A varint that must fit in 32 bits (LevelDB block entry lengths). */
  varint32(): number {
    const value = this.varint();
    if (value > 0xffffffff) this.fail(`varint32 ${value} is too large`);
    return value;
  }

  fixed32(): number {
    if (this.remaining < 4) this.fail('fixed32 runs past the end');
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  take(length: number): Uint8Array {
    if (length > this.remaining) this.fail(`${length} bytes claimed, ${this.remaining} left`);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}
