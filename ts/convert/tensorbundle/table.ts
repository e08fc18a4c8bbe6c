// Reads a whole TensorBundle index table (variables.index): footer → index block → data blocks. The table is
// small (one entry per tensor), so it is read into memory; every handle is checked against the file size.
import { ByteReader } from './bytes.js';
import { blockContents, blockEntries, compareBytes, readBlockHandle, type TableEntry } from './block.js';

const FOOTER_BYTES = 48;
const MAGIC_LOW = 0x8b80fb57;
const MAGIC_HIGH = 0xdb477524;

/** All entries of the table, in key order. `file` names it in errors. */
export function readTable(bytes: Uint8Array, file: string): TableEntry[] {
  const footer = new ByteReader(bytes, `${file} footer`, Math.max(0, bytes.length - FOOTER_BYTES));
  if (bytes.length < FOOTER_BYTES) footer.fail(`file is ${bytes.length} bytes, shorter than the ${FOOTER_BYTES}-byte table footer (truncated?)`);
  const metaindex = readBlockHandle(footer);
  const index = readBlockHandle(footer);
  const magic = new ByteReader(bytes, `${file} footer`, bytes.length - 8);
  if (magic.fixed32() !== MAGIC_LOW || magic.fixed32() !== MAGIC_HIGH) {
    magic.fail('table magic number missing: not a TensorBundle index, or truncated');
  }
  // The metaindex block is empty in TensorBundle files; it is still read so its checksum is verified.
  blockEntries(blockContents(bytes, metaindex, `${file} metaindex block`), `${file} metaindex block`);
  const indexEntries = blockEntries(blockContents(bytes, index, `${file} index block`), `${file} index block`);

  const entries: TableEntry[] = [];
  indexEntries.forEach(({ key: separator, value }, i) => {
    const what = `${file} data block ${i}`;
    const handleReader = new ByteReader(value, `${file} index entry ${i}`);
    const handle = readBlockHandle(handleReader);
    const block = blockEntries(blockContents(bytes, handle, what), what);
    const last = entries.at(-1);
    if (last && block[0] && compareBytes(last.key, block[0].key) >= 0) handleReader.fail('data blocks are out of key order');
    if (block.length > 0 && compareBytes(block.at(-1)!.key, separator) > 0) {
      handleReader.fail("the block's last key sorts after its index separator");
    }
    entries.push(...block);
  });
  return entries;
}
