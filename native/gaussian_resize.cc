// See gaussian_resize.h. Mirrors tensorflow/core/kernels/image/
// scale_and_translate_op.cc (ComputeSpansCore, GatherRows, GatherColumns)
// and sampling_kernels.h (GaussianKernelFunc) step by step.
#include "gaussian_resize.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace musiq {
namespace {

constexpr float kRadius = 1.5f;

inline int64_t Clamp(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Column pass with the channel count known at compile time: the running
// sums live in registers (acc = f32(acc + f32(w * x)), taps in order, zero
// taps included).
template <int C>
void GatherColumns(const float* mid, int64_t out_h, int64_t in_w,
                   const Spans& spans, float* dst) {
  const int64_t out_w = spans.out_size;
  const int64_t span = spans.span_size;
  for (int64_t y = 0; y < out_h; ++y) {
    const float* in = mid + y * in_w * C;
    float* out = dst + y * out_w * C;
    for (int64_t x = 0; x < out_w; ++x, out += C) {
      const int64_t start = spans.starts[static_cast<size_t>(x)];
      const float* w = &spans.weights[static_cast<size_t>(x * span)];
      const int64_t n = std::min(start + span, in_w) - start;
      float acc[C] = {};
      const float* pix = in + start * C;
      for (int64_t k = 0; k < n; ++k, pix += C) {
        const float wk = w[k];
        for (int c = 0; c < C; ++c) {
          const float prod = wk * pix[c];
          acc[c] = acc[c] + prod;
        }
      }
      for (int c = 0; c < C; ++c) out[c] = acc[c];
    }
  }
}

}  // namespace

float GaussianKernel(float d) {
  d = std::fabs(d);
  if (d >= kRadius) return 0.0f;
  // sigma = 1.5f / 3.0f = 0.5f; TF divides by the double 2*sigma*sigma.
  const float p = -d * d;  // float32 product
  return static_cast<float>(std::exp(static_cast<double>(p) / 0.5));
}

void ComputeGaussianSpans(int64_t in_size, int64_t out_size, Spans* spans) {
  spans->in_size = in_size;
  spans->out_size = out_size;
  const float scale =
      static_cast<float>(out_size) / static_cast<float>(in_size);
  const float inv_scale = static_cast<float>(1.0 / scale);
  const float inv_translate = -inv_scale * 0.0f;  // -0.0, as in TF
  // 2 * ceil(radius * kernel_scale) + 1 with kernel_scale 1, capped at in.
  const int64_t span_size = std::min<int64_t>(
      2 * static_cast<int64_t>(std::ceil(kRadius)) + 1, in_size);
  spans->span_size = span_size;
  spans->starts.assign(static_cast<size_t>(out_size), 0);
  spans->weights.assign(static_cast<size_t>(out_size * span_size), 0.0f);

  float temp[8];
  for (int64_t x = 0; x < out_size; ++x) {
    const float col_f = static_cast<float>(x) + 0.5f;
    const float sample_f = col_f * inv_scale + inv_translate;
    if (sample_f < 0.0f || sample_f > static_cast<float>(in_size)) {
      // TF emits an empty span; cannot happen with translation 0.
      continue;
    }
    int64_t start =
        static_cast<int64_t>(std::ceil(sample_f - kRadius - 0.5f));
    int64_t end = static_cast<int64_t>(std::floor(sample_f + kRadius - 0.5f));
    start = Clamp(start, 0, in_size - 1);
    end = Clamp(end, 0, in_size - 1) + 1;
    const int64_t n = std::min<int64_t>(end - start, span_size);
    float total = 0.0f;
    for (int64_t k = 0; k < n; ++k) {
      const float pos = static_cast<float>(start + k) + 0.5f - sample_f;
      const float w = GaussianKernel(std::fabs(pos));
      total += w;
      temp[k] = w;
    }
    if (std::fabs(total) >= 1000.0f * std::numeric_limits<float>::min()) {
      const float inv_total = 1.0f / total;
      float* row = &spans->weights[static_cast<size_t>(x * span_size)];
      for (int64_t k = 0; k < n; ++k) row[k] = temp[k] * inv_total;
    }
    spans->starts[static_cast<size_t>(x)] = start;
  }
}

void GaussianResizeRgb8(const uint8_t* src, const float lut[256], int64_t in_h,
                        int64_t in_w, const Spans& row_spans,
                        const Spans& col_spans, float* dst,
                        std::vector<float>* scratch) {
  constexpr int kRgb = 3;
  const int64_t out_h = row_spans.out_size;
  const int64_t in_row = in_w * kRgb;
  const int64_t ring = row_spans.span_size;  // <= 5 source rows in flight
  // One buffer: the out_h x in_w x 3 intermediate, then a ring of `ring`
  // source rows already mapped through the lut (each source row is
  // converted once per scale; the multiply-add loop then vectorises).
  scratch->resize(static_cast<size_t>((out_h + ring) * in_row));
  float* mid = scratch->data();
  float* cache = mid + out_h * in_row;
  int64_t cached[8];
  for (int64_t k = 0; k < ring; ++k) cached[k] = -1;

  // Pass 1: rows. mid[y] = sum_k w[y][k] * src[start_y + k], in tap order.
  for (int64_t y = 0; y < out_h; ++y) {
    float* __restrict out = mid + y * in_row;
    std::fill(out, out + in_row, 0.0f);
    const int64_t start = row_spans.starts[static_cast<size_t>(y)];
    const float* w = &row_spans.weights[static_cast<size_t>(y * row_spans.span_size)];
    const int64_t n = std::min(start + row_spans.span_size, in_h) - start;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t src_row = start + k;
      const int64_t slot = src_row % ring;
      float* __restrict in = cache + slot * in_row;
      if (cached[slot] != src_row) {
        const uint8_t* bytes = src + src_row * in_row;
        for (int64_t i = 0; i < in_row; ++i) in[i] = lut[bytes[i]];
        cached[slot] = src_row;
      }
      const float wk = w[k];
      for (int64_t i = 0; i < in_row; ++i) {
        const float prod = in[i] * wk;
        out[i] = out[i] + prod;
      }
    }
  }

  // Pass 2: columns over the intermediate.
  GatherColumns<kRgb>(mid, out_h, in_w, col_spans, dst);
}

}  // namespace musiq
