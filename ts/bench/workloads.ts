// Benchmark inputs: generated photos-like images at the sizes users quote (noise over gradients, JPEG
// quality 90, so decode cost is realistic), cached between runs, plus the bundled real photos.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export const BENCH_SIZES: ReadonlyArray<readonly [number, number]> = [
  [512, 384],
  [1024, 768],
  [1920, 1080],
  [4032, 3024],
];

export function sizeLabel([width, height]: readonly [number, number]): string {
  return `${width}x${height}`;
}

/** `count` JPEG files of the given size under `dir`, generated once. */
export async function generatedImages(dir: string, size: readonly [number, number], count: number): Promise<string[]> {
  const folder = join(dir, sizeLabel(size));
  mkdirSync(folder, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(folder, `${i}.jpg`);
    if (!existsSync(path)) {
      const [width, height] = size;
      await sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 110 + 10 * i, sigma: 30 } } })
        .blur(1.5)
        .jpeg({ quality: 90 })
        .toFile(path);
    }
    paths.push(path);
  }
  return paths;
}

/** The real photos bundled with the package (samples/). */
export function samplePhotos(): string[] {
  const dir = join(import.meta.dirname, '..', '..', 'samples');
  return readdirSync(dir)
    .filter((name) => /\.(jpe?g|png)$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}
