// Scores a generated folder of many images (mixed sizes, a few corrupt) through the CLI and prints its
// summary, throughput and peak memory: the flat-memory check of the scoring engine.
//   npx tsx scripts/many-images.ts [--count 1000] [--model demo] [--dir /tmp/musiq-many]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    model: { type: 'string', default: 'demo' },
    dir: { type: 'string', default: '/tmp/musiq-many' },
  },
});
const count = Number(values.count);
const folder = join(values.dir!, `images-${count}`);

if (!existsSync(join(folder, '.complete'))) {
  mkdirSync(folder, { recursive: true });
  // Sizes cycle through thumbnails, web images, camera-sized images and thin strips; every 100th file is corrupt.
  const sizes = [[64, 48], [160, 120], [320, 240], [640, 480], [1024, 768], [300, 40], [33, 500]] as const;
  for (let i = 0; i < count; i++) {
    const name = join(folder, `img${String(i).padStart(5, '0')}`);
    if (i % 100 === 99) {
      writeFileSync(`${name}.jpg`, i % 200 === 199 ? Buffer.alloc(0) : Buffer.from('not an image'));
      continue;
    }
    const [width, height] = sizes[i % sizes.length]!;
    const image = sharp({ create: { width, height, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    await (i % 2 ? image.jpeg({ quality: 85 }) : image.png()).toFile(`${name}.${i % 2 ? 'jpg' : 'png'}`);
  }
  writeFileSync(join(folder, '.complete'), '');
}

const cli = join(import.meta.dirname, '../dist/cli/main.js');
const output = join(values.dir!, `scores-${count}.jsonl`);
const run = spawnSync(process.execPath, [cli, 'score', folder, '--model', values.model!, '--output', output, '--stats'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
console.log(`exit code ${run.status} (1 = some files failed, as expected with corrupt files)`);
