// Gaussian resize matching TensorFlow's ScaleAndTranslate op
// (tf.image.resize(method=GAUSSIAN, antialias=False)), see
// docs musiq-semantics.md section 5. Plain C++17, no N-API.
//
// Numerics: every step is float32 in the same order as TF's CPU kernel;
// this file must be compiled with -ffp-contract=off (no FMA) and without
// -ffast-math. The kernel weight itself uses double exp, as TF does.
#ifndef MUSIQ_NATIVE_GAUSSIAN_RESIZE_H_
#define MUSIQ_NATIVE_GAUSSIAN_RESIZE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace musiq {

// Gaussian kernel of radius 1.5 (sigma 0.5): 0 for d >= 1.5, otherwise
// f32(exp((double)f32(-d*d) / 0.5)).
float GaussianKernel(float d);

// Sampling spans for one axis (TF ComputeSpansCore with translation 0,
// antialias off). Output position x reads input positions
// starts[x] .. starts[x] + span_size - 1 (clipped to the input) with the
// weights weights[x * span_size + k]; unused trailing weights are 0.
struct Spans {
  int64_t in_size = 0;
  int64_t out_size = 0;
  int64_t span_size = 0;
  std::vector<int64_t> starts;
  std::vector<float> weights;
};

// Computes spans for resizing an axis of length in_size to out_size.
// Both must be >= 1 (callers check this). May throw std::bad_alloc.
void ComputeGaussianSpans(int64_t in_size, int64_t out_size, Spans* spans);

// Source bytes are mapped through a lookup table so that uint8 input is
// normalised on the fly (identical values, no full float copy of the
// image): lut[v] is the float32 value for the byte v.
//
// Resizes an in_h x in_w x 3 uint8 RGB image (row-major, channels
// innermost), mapping each byte through lut, to out_h x out_w x 3 float32.
// Rows (vertical pass) first into an out_h x in_w x 3 float32 intermediate
// held in *scratch, then columns. Accumulation is acc = f32(acc + f32(w * x))
// in tap order, zero-weight taps included. dst must hold out_h * out_w * 3
// floats. May throw std::bad_alloc.
void GaussianResizeRgb8(const uint8_t* src, const float lut[256], int64_t in_h,
                        int64_t in_w, const Spans& row_spans,
                        const Spans& col_spans, float* dst,
                        std::vector<float>* scratch);

}  // namespace musiq

#endif  // MUSIQ_NATIVE_GAUSSIAN_RESIZE_H_
