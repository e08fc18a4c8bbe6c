// Test-only writer of zip archives (stored or deflated entries, optional zip64 records, sizes that may lie),
// for building .npz files with exactly the defects the reader must reject.
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Uncompressed size written in the zip headers instead of the real one (a lying or hostile archive). */
  declaredSize?: number;
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function u64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

export function makeZip(entries: ZipEntry[], options: { zip64?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const body = entry.deflate ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const method = entry.deflate ? 8 : 0;
    const crc = crc32(entry.data);
    const size = entry.declaredSize ?? entry.data.length;
    const z64 = options.zip64 === true;
    const sizeField = (v: number): Buffer => u32(z64 ? 0xffffffff : v);
    const localExtra = z64 ? Buffer.concat([u16(1), u16(16), u64(size), u64(body.length)]) : Buffer.alloc(0);
    const local = Buffer.concat([
      u32(0x04034b50), u16(z64 ? 45 : 20), u16(0), u16(method), u16(0), u16(0x21), u32(crc),
      sizeField(body.length), sizeField(size), u16(name.length), u16(localExtra.length), name, localExtra, body,
    ]);
    const centralExtra = z64
      ? Buffer.concat([u16(1), u16(24), u64(size), u64(body.length), u64(offset)])
      : Buffer.alloc(0);
    centrals.push(
      Buffer.concat([
        u32(0x02014b50), u16(z64 ? 45 : 20), u16(z64 ? 45 : 20), u16(0), u16(method), u16(0), u16(0x21), u32(crc),
        sizeField(body.length), sizeField(size), u16(name.length), u16(centralExtra.length), u16(0), u16(0),
        u16(0), u32(0), u32(z64 ? 0xffffffff : offset), name, centralExtra,
      ]),
    );
    locals.push(local);
    offset += local.length;
  }
  const central = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (options.zip64) {
    const eocd64Offset = offset + central.length;
    tail.push(
      Buffer.concat([
        u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(entries.length), u64(entries.length),
        u64(central.length), u64(offset),
      ]),
      Buffer.concat([u32(0x07064b50), u32(0), u64(eocd64Offset), u32(1)]),
      Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(0xffffffff), u32(0xffffffff), u16(0)]),
    );
  } else {
    tail.push(Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(entries.length), u16(entries.length), u32(central.length), u32(offset), u16(0)]));
  }
  return Buffer.concat([...locals, central, ...tail]);
}

/** A .npy file with the given header dict text (padded as numpy pads it) and raw data bytes. */
export function makeNpy(headerDict: string, data: Uint8Array, version: 1 | 2 | 3 = 1): Buffer {
  const prefix = version === 1 ? 10 : 12;
  let header = headerDict;
  const padTo = 64;
  const total = prefix + header.length + 1;
  header += ' '.repeat((padTo - (total % padTo)) % padTo) + '\n';
  const length = version === 1 ? u16(header.length) : u32(header.length);
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]), length, Buffer.from(header, 'latin1'), Buffer.from(data)]);
}
