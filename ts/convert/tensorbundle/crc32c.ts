// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TensorFlow uses for index blocks and tensor data,
// and its masked form (savedmodel-format.md §5). Slicing-by-8 tables: checkpoints are hundreds of MiB.

const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    tables[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!;
    for (let t = 1; t < 8; t++) {
      c = (c >>> 8) ^ tables[0]![c & 0xff]!;
      tables[t]![n] = c >>> 0;
    }
  }
  return tables;
})();

/** Extends `crc` (the CRC of the bytes before these; 0 to start) with `bytes`. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  while (i < end8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < bytes.length) c = (c >>> 8) ^ t0[(c ^ bytes[i++]!) & 0xff]!;
  return ~c >>> 0;
}

const MASK_DELTA = 0xa282ead8;

/** TensorFlow stores CRCs masked, so that a CRC of data that embeds CRCs stays well distributed. */
export function maskCrc32c(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}
