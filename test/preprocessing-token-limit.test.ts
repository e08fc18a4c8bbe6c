// The token limit's message: the attention memory it quotes comes from the model's own head count, it names
// the mode the image was prepared in (full resolution or a native-patch cap), and its remedies name both the
// CLI flags and the library options. The check runs before any pixel is read, so a bare image size suffices.
import { describe, expect, it } from 'vitest';
import type { MusiqSidecar } from '../ts/convert/convert.js';
import type { DecodedImage } from '../ts/image/decode.js';
import { musiqPreprocessing, TokenLimitError } from '../ts/runtime/preprocessing.js';

const sidecar = (numHeads: number): MusiqSidecar => ({ preprocessing: { longerSides: [224, 384] }, config: { numHeads } }) as unknown as MusiqSidecar;
/** 8000×8000: 250×250 native patches, plus 49 + 144 for the two resized scales. */
const huge = { width: 8000, height: 8000, data: new Uint8Array(0), format: 'png', conversions: [] } satisfies DecodedImage;
const gib = (heads: number, rows: number): string => ((heads * (rows + 1) ** 2 * 4) / 2 ** 30).toFixed(1);

async function refusal(heads: number, nativePatches: 'all' | number): Promise<string> {
  const error = await musiqPreprocessing(sidecar(heads), nativePatches, 16384).prepare(huge).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenLimitError);
  return (error as Error).message;
}

describe('the token limit', () => {
  it("at full resolution: the model's own head count sizes the attention memory", async () => {
    const rows = 193 + 250 * 250;
    expect(await refusal(12, 'all')).toBe(
      `8000×8000 gives ${rows} tokens at full resolution (every native patch), above the limit of 16384 ` +
        `(attention needs about ${gib(12, rows)} GiB per layer for its 12 heads); ` +
        'cap the native patches (--native-patches / nativePatches; 1024 is TF Hub mode) or raise the limit (--max-tokens / maxTokens)',
    );
    expect(await refusal(2, 'all')).toContain(`about ${gib(2, rows)} GiB per layer for its 2 heads`);
  });

  it('with a native-patch cap: says so, and suggests a lower cap', async () => {
    const message = await refusal(6, 20000);
    expect(message).toMatch(/^8000×8000 gives 20193 tokens with native patches capped at 20000, above the limit of 16384 /);
    expect(message).not.toContain('full resolution');
    expect(message).toContain('lower the native-patch cap (--native-patches / nativePatches; 1024 is TF Hub mode)');
  });
});
