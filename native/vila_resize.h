// VILA-R input (vila.md section 2): legacy TF1 bilinear resize of the whole
// image to resize x resize (aspect ratio not kept), centre crop to
// crop x crop, / 255, clip to [0, 1]. Plain C++17, no N-API. Never throws.
//
// Numerics: float32 throughout in TF's order (resize_bilinear_op.cc, legacy
// scaler); compile with -ffp-contract=off so no FMA merges the lerps.
#ifndef MUSIQ_NATIVE_VILA_RESIZE_H_
#define MUSIQ_NATIVE_VILA_RESIZE_H_

#include <cstddef>
#include <cstdint>

#include "patch_tokens.h"  // Status, TokenBuffer, kMaxSide, kChannels

namespace musiq {

// Largest resize side accepted (the real model uses 272).
constexpr int64_t kVilaMaxResize = 4096;

struct VilaOptions {
  int64_t resize = 272;
  int64_t crop = 224;
};

// Checks the input description and the options against the limits.
Status CheckVilaInput(int64_t height, int64_t width, size_t pixel_bytes,
                      const VilaOptions& options);

// One TF1 legacy sample position: src = f32(f32(i) * f32(in / out)).
struct BilinearTap {
  int64_t lo = 0;
  int64_t hi = 0;
  float frac = 0.0f;
};
BilinearTap LegacyBilinearTap(int64_t i, int64_t in_size, int64_t out_size);

// uint8 H x W x 3 (RGB, row-major) -> crop x crop x 3 float32 in [0, 1],
// allocated with malloc into *out. Runs on the calling thread only.
Status VilaPreprocess(const uint8_t* pixels, size_t pixel_bytes,
                      int64_t height, int64_t width, const VilaOptions& options,
                      TokenBuffer* out);

}  // namespace musiq

#endif  // MUSIQ_NATIVE_VILA_RESIZE_H_
