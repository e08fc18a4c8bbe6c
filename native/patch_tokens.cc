// See patch_tokens.h. Section numbers refer to musiq-semantics.md.
#include "patch_tokens.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "gaussian_resize.h"

namespace musiq {
namespace {

std::string Dims(int64_t h, int64_t w) {
  return std::to_string(h) + "x" + std::to_string(w);
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Copies the patches of one scale image (h x w x 3, read through `Src`)
// into consecutive token rows starting at `out`: SAME split with the
// smaller half of the padding before (section 6), pixels in (r, c, ch)
// order, patches row-major. Only the first `valid` patches are written;
// `out` is pre-zeroed, so padding pixels stay 0.0. Also writes the hash,
// scale id and mask columns (sections 7, 8).
template <typename Src>
void WritePatches(const Src& src, const ScaleLayout& s, float* out) {
  const int64_t h = s.resized_h, w = s.resized_w;
  const int64_t gh = s.grid_h, gw = s.grid_w;
  const int64_t pad_top = (gh * kPatchSize - h) / 2;
  const int64_t pad_left = (gw * kPatchSize - w) / 2;
  const float scale_id = static_cast<float>(s.scale_id);

  for (int64_t p = 0; p < s.valid_rows; ++p) {
    float* row = out + p * kTokenWidth;
    const int64_t i = p / gw, j = p % gw;
    row[kHashColumn] = static_cast<float>(HashIndex(i, gh) * kHashGridSize +
                                          HashIndex(j, gw));
    row[kScaleColumn] = scale_id;
    row[kMaskColumn] = 1.0f;
  }

  for (int64_t i = 0; i < gh; ++i) {
    const int64_t first = i * gw;
    if (first >= s.valid_rows) break;
    const int64_t last = std::min(first + gw, s.valid_rows);  // exclusive
    for (int64_t r = 0; r < kPatchSize; ++r) {
      const int64_t y = i * kPatchSize - pad_top + r;
      if (y < 0 || y >= h) continue;
      for (int64_t p = first; p < last; ++p) {
        const int64_t x0 = (p - first) * kPatchSize - pad_left;
        const int64_t c0 = std::max<int64_t>(0, -x0);
        const int64_t c1 = std::min<int64_t>(kPatchSize, w - x0);
        if (c1 <= c0) continue;
        float* dst = out + p * kTokenWidth + (r * kPatchSize + c0) * kChannels;
        src.CopyRow(y, x0 + c0, (c1 - c0) * kChannels, dst);
      }
    }
  }
}

// Native scale: bytes normalised through the lookup table.
struct ByteSource {
  const uint8_t* pixels;
  int64_t width;
  const float* lut;
  void CopyRow(int64_t y, int64_t x, int64_t n, float* dst) const {
    const uint8_t* in = pixels + (y * width + x) * kChannels;
    for (int64_t k = 0; k < n; ++k) dst[k] = lut[in[k]];
  }
};

// Resized scales: float32 image from the Gaussian resize.
struct FloatSource {
  const float* pixels;
  int64_t width;
  void CopyRow(int64_t y, int64_t x, int64_t n, float* dst) const {
    std::memcpy(dst, pixels + (y * width + x) * kChannels,
                static_cast<size_t>(n) * sizeof(float));
  }
};

Status ExtractTokensImpl(const uint8_t* pixels, size_t pixel_bytes,
                         int64_t height, int64_t width,
                         const TokenOptions& options, TokenResult* result) {
  Status st = PlanTokens(height, width, pixel_bytes, options, &result->plan);
  if (!st.ok()) return st;
  const TokenPlan& plan = result->plan;

  const size_t floats = static_cast<size_t>(plan.rows * kTokenWidth);
  // calloc: padding rows and padding pixels must be 0.0, and large zeroed
  // allocations come straight from the OS without a memset.
  float* data = floats == 0
                    ? nullptr
                    : static_cast<float*>(std::calloc(floats, sizeof(float)));
  if (floats != 0 && data == nullptr) {
    return Status::Error("out of memory allocating " + std::to_string(plan.rows) +
                         " token rows (" +
                         std::to_string(floats * sizeof(float)) + " bytes)");
  }
  result->tokens.reset(data);

  float lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = NormalizeByte(static_cast<uint8_t>(v));

  std::vector<float> resized, scratch;
  Spans row_spans, col_spans;
  for (const ScaleLayout& s : plan.scales) {
    float* out = data + s.row_start * kTokenWidth;
    if (s.longer_side == 0) {
      WritePatches(ByteSource{pixels, width, lut}, s, out);
      continue;
    }
    // Every scale is resized from the normalised original (never chained);
    // the resize runs even when the size does not change.
    ComputeGaussianSpans(height, s.resized_h, &row_spans);
    ComputeGaussianSpans(width, s.resized_w, &col_spans);
    resized.resize(static_cast<size_t>(s.resized_h * s.resized_w * kChannels));
    GaussianResizeRgb8(pixels, lut, height, width, row_spans, col_spans,
                       resized.data(), &scratch);
    WritePatches(FloatSource{resized.data(), s.resized_w}, s, out);
  }
  return Status::Ok();
}

}  // namespace

float NormalizeByte(uint8_t x) {
  float v = static_cast<float>(x) / 255.0f;
  v = v * 2.0f;
  v = v + -1.0f;
  return v;
}

void ResizedSize(int64_t h, int64_t w, int64_t longer_side, int64_t* rh,
                 int64_t* rw) {
  const float ratio = static_cast<float>(longer_side) /
                      static_cast<float>(std::max(h, w));
  const float fh = static_cast<float>(h) * ratio;
  const float fw = static_cast<float>(w) * ratio;
  // std::nearbyint rounds half to even in the default rounding mode, like
  // tf.round; std::round would round 136.5 up.
  *rh = static_cast<int64_t>(std::nearbyint(fh));
  *rw = static_cast<int64_t>(std::nearbyint(fw));
}

int HashIndex(int64_t i, int64_t count) {
  const float scale = static_cast<float>(kHashGridSize) / static_cast<float>(count);
  const float pos = static_cast<float>(i) * scale;  // rounded to f32 first
  const int idx = static_cast<int>(std::floor(pos));
  return std::min(idx, kHashGridSize - 1);
}

Status PlanTokens(int64_t height, int64_t width, size_t pixel_bytes,
                  const TokenOptions& options, TokenPlan* plan) {
  *plan = TokenPlan{};
  if (height < 1 || width < 1) {
    return Status::Error("image size must be at least 1x1, got " +
                         Dims(height, width) + " (HxW)");
  }
  if (height > kMaxSide || width > kMaxSide) {
    return Status::Error("image size " + Dims(height, width) +
                         " (HxW) exceeds the limit of " +
                         std::to_string(kMaxSide) + " pixels per side");
  }
  const uint64_t expected = static_cast<uint64_t>(height) *
                            static_cast<uint64_t>(width) * kChannels;
  if (static_cast<uint64_t>(pixel_bytes) != expected) {
    return Status::Error("pixel buffer has " + std::to_string(pixel_bytes) +
                         " bytes, expected height*width*3 = " +
                         std::to_string(expected) + " for a " +
                         Dims(height, width) + " (HxW) RGB image");
  }
  if (options.longer_sides.size() > kMaxScales) {
    return Status::Error("at most " + std::to_string(kMaxScales) +
                         " resized scales are supported, got " +
                         std::to_string(options.longer_sides.size()));
  }
  if (options.max_native_patches < -1) {
    return Status::Error("maxNativePatches must be -1 (all) or >= 0, got " +
                         std::to_string(options.max_native_patches));
  }
  std::vector<int64_t> sides = options.longer_sides;
  std::sort(sides.begin(), sides.end());

  uint64_t rows = 0;
  int scale_id = 0;
  for (int64_t L : sides) {
    if (L < 1 || L > kMaxLongerSide) {
      return Status::Error("longer side must be in [1, " +
                           std::to_string(kMaxLongerSide) + "], got " +
                           std::to_string(L));
    }
    ScaleLayout s;
    s.scale_id = scale_id++;
    s.longer_side = L;
    ResizedSize(height, width, L, &s.resized_h, &s.resized_w);
    if (s.resized_h < 1 || s.resized_w < 1) {
      return Status::Error(
          "image is too thin: " + Dims(height, width) +
          " (HxW) resizes to " + Dims(s.resized_h, s.resized_w) +
          " at longer side " + std::to_string(L) +
          "; TensorFlow would also reject it (\"output dimensions must be "
          "positive\")");
    }
    s.grid_h = CeilDiv(s.resized_h, kPatchSize);
    s.grid_w = CeilDiv(s.resized_w, kPatchSize);
    const int64_t max_seq_len = CeilDiv(L, kPatchSize) * CeilDiv(L, kPatchSize);
    s.valid_rows = std::min(s.grid_h * s.grid_w, max_seq_len);
    s.row_start = static_cast<int64_t>(rows);
    rows += static_cast<uint64_t>(max_seq_len);
    s.row_end = static_cast<int64_t>(rows);
    plan->scales.push_back(s);
  }

  ScaleLayout n;
  n.scale_id = scale_id;
  n.longer_side = 0;
  n.resized_h = height;
  n.resized_w = width;
  n.grid_h = CeilDiv(height, kPatchSize);
  n.grid_w = CeilDiv(width, kPatchSize);
  const int64_t count = n.grid_h * n.grid_w;  // <= 2^30
  const int64_t native_rows =
      options.max_native_patches < 0 ? count : options.max_native_patches;
  n.valid_rows = std::min(count, native_rows);
  n.row_start = static_cast<int64_t>(rows);
  // Compare in rows first so that a huge cap cannot overflow.
  const uint64_t max_rows = kMaxTokenFloats / kTokenWidth;
  if (static_cast<uint64_t>(native_rows) > max_rows - rows) {
    const uint64_t total = rows + static_cast<uint64_t>(native_rows);
    const std::string cause =
        options.max_native_patches < 0
            ? std::to_string(count) + " native patches"
            : "a native block capped at " + std::to_string(native_rows) + " rows";
    return Status::Error(
        "too many tokens: " + Dims(height, width) + " (HxW) with " + cause +
        " needs " + std::to_string(total) + " token rows, above the limit of " +
        std::to_string(max_rows) + " rows (" + std::to_string(kMaxTokenFloats) +
        " float32 values); downscale the image or use a smaller native patch cap");
  }
  rows += static_cast<uint64_t>(native_rows);
  n.row_end = static_cast<int64_t>(rows);
  plan->scales.push_back(n);

  plan->rows = static_cast<int64_t>(rows);
  for (const ScaleLayout& s : plan->scales) plan->valid_rows += s.valid_rows;
  return Status::Ok();
}

Status ExtractTokens(const uint8_t* pixels, size_t pixel_bytes, int64_t height,
                     int64_t width, const TokenOptions& options,
                     TokenResult* result) {
  *result = TokenResult{};
  if (pixels == nullptr && pixel_bytes != 0) {
    return Status::Error("pixel buffer is null");
  }
  try {
    Status st = ExtractTokensImpl(pixels, pixel_bytes, height, width, options,
                                  result);
    if (!st.ok()) *result = TokenResult{};
    return st;
  } catch (const std::bad_alloc&) {
    *result = TokenResult{};
    return Status::Error("out of memory while extracting tokens from a " +
                         Dims(height, width) + " (HxW) image");
  } catch (const std::exception& e) {
    *result = TokenResult{};
    return Status::Error(std::string("token extraction failed: ") + e.what());
  }
}

}  // namespace musiq
