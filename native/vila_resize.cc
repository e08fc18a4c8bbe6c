// See vila_resize.h. Mirrors tensorflow/core/kernels/image/
// resize_bilinear_op.cc (compute_interpolation_weights with the legacy
// scaler, compute_lerp) for align_corners = half_pixel_centers = false.
#include "vila_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace musiq {

Status CheckVilaInput(int64_t height, int64_t width, size_t pixel_bytes,
                      const VilaOptions& options) {
  if (height < 1 || width < 1 || height > kMaxSide || width > kMaxSide) {
    return Status::Error("image size " + std::to_string(height) + "x" +
                         std::to_string(width) + " (HxW) is outside [1, " +
                         std::to_string(kMaxSide) + "]");
  }
  const uint64_t expected = static_cast<uint64_t>(height) *
                            static_cast<uint64_t>(width) * kChannels;
  if (pixel_bytes != expected) {
    return Status::Error("pixels hold " + std::to_string(pixel_bytes) +
                         " bytes, expected height*width*3 = " +
                         std::to_string(expected));
  }
  if (options.resize < 1 || options.resize > kVilaMaxResize) {
    return Status::Error("resize " + std::to_string(options.resize) +
                         " is outside [1, " + std::to_string(kVilaMaxResize) + "]");
  }
  if (options.crop < 1 || options.crop > options.resize) {
    return Status::Error("crop " + std::to_string(options.crop) +
                         " is outside [1, resize = " +
                         std::to_string(options.resize) + "]");
  }
  return Status::Ok();
}

BilinearTap LegacyBilinearTap(int64_t i, int64_t in_size, int64_t out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float in = static_cast<float>(i) * scale;
  const float in_f = std::floor(in);
  BilinearTap tap;
  tap.lo = std::max<int64_t>(static_cast<int64_t>(in_f), 0);
  tap.hi = std::min<int64_t>(static_cast<int64_t>(std::ceil(in)), in_size - 1);
  tap.frac = in - in_f;
  return tap;
}

Status VilaPreprocess(const uint8_t* pixels, size_t pixel_bytes,
                      int64_t height, int64_t width, const VilaOptions& options,
                      TokenBuffer* out) {
  Status st = CheckVilaInput(height, width, pixel_bytes, options);
  if (!st.ok()) return st;
  const int64_t crop = options.crop;
  const int64_t offset = (options.resize - crop) / 2;
  try {
    // Taps for the cropped rows and columns only: the rest is never read.
    std::vector<BilinearTap> ys(static_cast<size_t>(crop));
    std::vector<BilinearTap> xs(static_cast<size_t>(crop));
    for (int64_t k = 0; k < crop; ++k) {
      ys[static_cast<size_t>(k)] = LegacyBilinearTap(offset + k, height, options.resize);
      xs[static_cast<size_t>(k)] = LegacyBilinearTap(offset + k, width, options.resize);
    }
    const size_t count = static_cast<size_t>(crop * crop * kChannels);
    float* dst = static_cast<float*>(std::malloc(count * sizeof(float)));
    if (dst == nullptr) {
      return Status::Error("out of memory allocating the " + std::to_string(crop) +
                           "x" + std::to_string(crop) + " VILA input");
    }
    out->reset(dst);
    const int64_t row_bytes = width * kChannels;
    for (const BilinearTap& y : ys) {
      const uint8_t* top_row = pixels + y.lo * row_bytes;
      const uint8_t* bottom_row = pixels + y.hi * row_bytes;
      for (const BilinearTap& x : xs) {
        for (int64_t c = 0; c < kChannels; ++c) {
          const float tl = top_row[x.lo * kChannels + c];
          const float tr = top_row[x.hi * kChannels + c];
          const float bl = bottom_row[x.lo * kChannels + c];
          const float br = bottom_row[x.hi * kChannels + c];
          const float top = tl + (tr - tl) * x.frac;
          const float bottom = bl + (br - bl) * x.frac;
          const float value = (top + (bottom - top) * y.frac) / 255.0f;
          *dst++ = value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
        }
      }
    }
  } catch (const std::exception& e) {
    out->reset();
    return Status::Error(std::string("VILA preprocessing failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace musiq
