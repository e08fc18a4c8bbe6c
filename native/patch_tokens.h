// MUSIQ multi-scale token extraction (musiq-semantics.md sections 3-9).
// Plain C++17, no N-API. Never throws: every failure, including running
// out of memory, comes back as a Status with a message for the user.
#ifndef MUSIQ_NATIVE_PATCH_TOKENS_H_
#define MUSIQ_NATIVE_PATCH_TOKENS_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace musiq {

constexpr int64_t kChannels = 3;
constexpr int64_t kPatchSize = 32;
constexpr int64_t kPatchValues = kPatchSize * kPatchSize * kChannels;  // 3072
constexpr int64_t kTokenWidth = kPatchValues + 3;                      // 3075
constexpr int64_t kHashColumn = kPatchValues;                          // 3072
constexpr int64_t kScaleColumn = kPatchValues + 1;                     // 3073
constexpr int64_t kMaskColumn = kPatchValues + 2;                      // 3074
constexpr int kHashGridSize = 10;
static_assert(kTokenWidth == 3075, "MUSIQ token rows are 3075 floats");

// Input limits. Sides up to 2^20 px keep every float32 conversion of a
// size exact (< 2^24) and every product below 2^63.
constexpr int64_t kMaxSide = int64_t{1} << 20;
constexpr int64_t kMaxLongerSide = 4096;
constexpr size_t kMaxScales = 16;
// Largest token tensor we hand out: 2^31 - 1 float32 values (8 GiB).
constexpr uint64_t kMaxTokenFloats = (uint64_t{1} << 31) - 1;

struct Status {
  std::string error;  // empty = success
  bool ok() const { return error.empty(); }
  static Status Ok() { return Status{}; }
  static Status Error(std::string message) { return Status{std::move(message)}; }
};

// x / 255 * 2 - 1 in three float32 operations (section 3).
float NormalizeByte(uint8_t x);

// Resized size for one longer side (section 4): f32 ratio and products,
// round half to even. Sets *rh, *rw; either may be 0 (the caller decides
// what to report). h, w, longer_side must be >= 1 and <= 2^24.
void ResizedSize(int64_t h, int64_t w, int64_t longer_side, int64_t* rh,
                 int64_t* rw);

// Legacy nearest-neighbour index of the hash grid (section 7) for entry i
// of an axis with `count` patches: min(floorf(f32(i * f32(10/count))), 9).
int HashIndex(int64_t i, int64_t count);

struct TokenOptions {
  // Longer sides of the resized scales. Sorted ascending before use, as
  // the reference does, so scale ids follow the sorted order.
  std::vector<int64_t> longer_sides = {224, 384};
  int64_t max_native_patches = -1;                  // -1 = all, else pad/cut
};

struct ScaleLayout {
  int scale_id = 0;
  int64_t longer_side = 0;  // 0 = native resolution
  int64_t resized_h = 0;
  int64_t resized_w = 0;
  int64_t grid_h = 0;
  int64_t grid_w = 0;
  int64_t valid_rows = 0;  // real patches (mask 1)
  int64_t row_start = 0;
  int64_t row_end = 0;  // exclusive; rows [start+valid, end) are zero
};

struct TokenPlan {
  std::vector<ScaleLayout> scales;
  int64_t rows = 0;
  int64_t valid_rows = 0;
};

// Validates the input description and computes the layout of every scale.
Status PlanTokens(int64_t height, int64_t width, size_t pixel_bytes,
                  const TokenOptions& options, TokenPlan* plan);

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using TokenBuffer = std::unique_ptr<float, FreeDeleter>;

struct TokenResult {
  TokenPlan plan;
  TokenBuffer tokens;  // plan.rows * kTokenWidth floats (malloc/free)
};

// Full pipeline: uint8 H x W x 3 (RGB, row-major) -> tokens. The buffer is
// allocated with calloc and owned by result->tokens (release it and free()
// it yourself to hand it elsewhere). Runs on the calling thread only.
Status ExtractTokens(const uint8_t* pixels, size_t pixel_bytes, int64_t height,
                     int64_t width, const TokenOptions& options,
                     TokenResult* result);

}  // namespace musiq

#endif  // MUSIQ_NATIVE_PATCH_TOKENS_H_
