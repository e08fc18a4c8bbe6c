// Per-thread speed of the native preprocessing: one extraction at a time on the libuv pool, in MP/s.
// Patch extraction alone is timed with no resized scales; the Gaussian resize is the difference.
import { extractTokens } from '../preprocess/tokens.js';

export interface PreprocessSpeed {
  size: string;
  /** Full MUSIQ preprocessing: normalise, two Gaussian resizes, three patch extractions. */
  fullMPs: number;
  /** Normalise and native-resolution patch extraction only. */
  patchesMPs: number;
  /** The two Gaussian resizes (224 and 384), from the difference of the two timings. */
  resizeMPs: number;
}

async function timePerImage(data: Uint8Array, height: number, width: number, longerSides: number[], seconds: number): Promise<number> {
  await extractTokens({ data, height, width }, { longerSides }); // warm-up
  let runs = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000 || runs < 3) {
    await extractTokens({ data, height, width }, { longerSides });
    runs++;
  }
  return (performance.now() - started) / 1000 / runs;
}

export async function preprocessSpeed(sizes: ReadonlyArray<readonly [number, number]>, seconds: number): Promise<PreprocessSpeed[]> {
  const results: PreprocessSpeed[] = [];
  for (const [width, height] of sizes) {
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const megapixels = (width * height) / 1e6;
    const full = await timePerImage(data, height, width, [224, 384], seconds);
    const patches = await timePerImage(data, height, width, [], seconds);
    results.push({
      size: `${width}x${height}`,
      fullMPs: megapixels / full,
      patchesMPs: megapixels / patches,
      resizeMPs: full > patches ? megapixels / (full - patches) : Infinity,
    });
  }
  return results;
}
