// Thin N-API layer over the plain C++ kernels in patch_tokens.{h,cc} and
// vila_resize.{h,cc}.
//
// extractTokens(pixels: Uint8Array, height: number, width: number,
//               options: { longerSides: number[], maxNativePatches: number })
//   => Promise<{ tokens: Float32Array, rows, validRows, layout: [...] }>
//
// - Wrong JS types throw a TypeError synchronously; invalid sizes reject
//   the promise with the kernel's message (checked before any work is
//   queued).
// - The pixels are copied on the main thread (3 bytes per pixel, a memcpy),
//   so JS may reuse, mutate or transfer its buffer at once; the token math
//   runs in Execute() on the libuv pool and touches no Napi value.
// - The token buffer is handed to JS as an external ArrayBuffer (no copy)
//   whose finalizer free()s it; where external buffers are not allowed
//   (e.g. a V8 sandbox) it falls back to one copy.
// - Built with NAPI_DISABLE_CPP_EXCEPTIONS: node-addon-api never throws;
//   the kernel catches its own exceptions and reports a Status.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "patch_tokens.h"
#include "vila_resize.h"

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1
constexpr const char* kErrorCode = "ERR_MUSIQ_PREPROCESS";

Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Reads an integral JS number into *out. Non-integers and values beyond
// 2^53 are a TypeError (they cannot be a size or a count).
bool GetInteger(Napi::Value v, int64_t* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > kMaxSafeInteger) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

Napi::Error MakeError(Napi::Env env, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, kErrorCode));
  return err;
}

Napi::Object LayoutToJs(Napi::Env env, const musiq::ScaleLayout& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("scaleId", Napi::Number::New(env, s.scale_id));
  o.Set("longerSide", s.longer_side == 0
                          ? env.Null()
                          : Napi::Number::New(env, static_cast<double>(s.longer_side)));
  o.Set("resizedHeight", Napi::Number::New(env, static_cast<double>(s.resized_h)));
  o.Set("resizedWidth", Napi::Number::New(env, static_cast<double>(s.resized_w)));
  o.Set("gridHeight", Napi::Number::New(env, static_cast<double>(s.grid_h)));
  o.Set("gridWidth", Napi::Number::New(env, static_cast<double>(s.grid_w)));
  o.Set("validRows", Napi::Number::New(env, static_cast<double>(s.valid_rows)));
  o.Set("rowStart", Napi::Number::New(env, static_cast<double>(s.row_start)));
  o.Set("rowEnd", Napi::Number::New(env, static_cast<double>(s.row_end)));
  return o;
}

void FreeTokens(napi_env /*env*/, void* data, void* /*hint*/) { std::free(data); }

// Moves the kernel's buffer into a JS ArrayBuffer. Returns an empty value
// with a pending exception on failure.
Napi::Value TokensToArrayBuffer(Napi::Env env, musiq::TokenBuffer* tokens,
                                size_t bytes) {
  napi_value ab = nullptr;
  if (bytes == 0) {
    void* unused = nullptr;
    if (napi_create_arraybuffer(env, 0, &unused, &ab) != napi_ok) return Napi::Value();
    return Napi::Value(env, ab);
  }
  napi_status st = napi_create_external_arraybuffer(env, tokens->get(), bytes,
                                                    FreeTokens, nullptr, &ab);
  if (st == napi_ok) {
    tokens->release();  // now owned by the ArrayBuffer's finalizer
    return Napi::Value(env, ab);
  }
  // External buffers not allowed here: one copy.
  if (env.IsExceptionPending()) env.GetAndClearPendingException();
  void* dst = nullptr;
  if (napi_create_arraybuffer(env, bytes, &dst, &ab) != napi_ok) return Napi::Value();
  std::memcpy(dst, tokens->get(), bytes);
  tokens->reset();
  return Napi::Value(env, ab);
}

// Copies a typed array's bytes so a worker never reads JS-owned memory.
// Returns null (after rejecting `early`) when out of memory.
std::unique_ptr<uint8_t[]> CopyPixels(Napi::Env env, const Napi::TypedArray& ta,
                                      Napi::Promise::Deferred* early) {
  const size_t bytes = ta.ByteLength();
  std::unique_ptr<uint8_t[]> copy(new (std::nothrow) uint8_t[bytes]);
  if (!copy) {
    early->Reject(MakeError(env, "out of memory copying " + std::to_string(bytes) +
                                     " pixel bytes").Value());
    return nullptr;
  }
  std::memcpy(copy.get(), static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) +
                              ta.ByteOffset(),
              bytes);
  return copy;
}

// What both preprocessing workers share: the promise, the private copy of the
// input pixels, and the hand-over of a float result to JS without a copy.
class PixelWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  PixelWorker(Napi::Env env, const char* name, std::unique_ptr<uint8_t[]> pixels,
              size_t bytes, int64_t height, int64_t width)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        pixels_(std::move(pixels)),
        bytes_(bytes),
        height_(height),
        width_(width) {}

  // Runs the kernel on the libuv pool and frees the input copy at once.
  template <typename Kernel>
  void RunKernel(Kernel kernel) {
    musiq::Status st = kernel(pixels_.get(), bytes_, height_, width_);
    pixels_.reset();
    if (!st.ok()) SetError(st.error);
  }

  // `count` floats of `buffer` as a Float32Array, or an empty value after
  // rejecting the promise with `what`.
  Napi::Float32Array FloatsOrReject(Napi::Env env, musiq::TokenBuffer* buffer,
                                    size_t count, const char* what) {
    Napi::Value ab = TokensToArrayBuffer(env, buffer, count * sizeof(float));
    if (ab.IsEmpty() || env.IsExceptionPending()) {
      Reject(env, what);
      return Napi::Float32Array();
    }
    Napi::Float32Array floats = Napi::Float32Array::New(env, count, ab.As<Napi::ArrayBuffer>(), 0);
    if (env.IsExceptionPending()) {
      Reject(env, what);
      return Napi::Float32Array();
    }
    return floats;
  }

  void Reject(Napi::Env env, const char* what) {
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
    } else {
      deferred_.Reject(MakeError(env, what).Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    deferred_.Reject(MakeError(env, e.Message()).Value());
  }

  Napi::Promise::Deferred deferred_;

 private:
  std::unique_ptr<uint8_t[]> pixels_;
  size_t bytes_;
  int64_t height_;
  int64_t width_;
};

class ExtractWorker : public PixelWorker {
 public:
  ExtractWorker(Napi::Env env, std::unique_ptr<uint8_t[]> pixels, size_t bytes,
                int64_t height, int64_t width, musiq::TokenOptions options)
      : PixelWorker(env, "musiq:extractTokens", std::move(pixels), bytes, height, width),
        options_(std::move(options)) {}

 protected:
  void Execute() override {
    RunKernel([this](const uint8_t* px, size_t bytes, int64_t h, int64_t w) {
      return musiq::ExtractTokens(px, bytes, h, w, options_, &result_);
    });
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const musiq::TokenPlan& plan = result_.plan;
    const size_t count = static_cast<size_t>(plan.rows) *
                         static_cast<size_t>(musiq::kTokenWidth);
    Napi::Float32Array tokens = FloatsOrReject(env, &result_.tokens, count, "could not allocate the token array");
    if (tokens.IsEmpty()) return;
    Napi::Array layout = Napi::Array::New(env, plan.scales.size());
    for (size_t i = 0; i < plan.scales.size(); ++i) {
      layout.Set(static_cast<uint32_t>(i), LayoutToJs(env, plan.scales[i]));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("tokens", tokens);
    out.Set("rows", Napi::Number::New(env, static_cast<double>(plan.rows)));
    out.Set("validRows", Napi::Number::New(env, static_cast<double>(plan.valid_rows)));
    out.Set("layout", layout);
    if (env.IsExceptionPending()) {
      Reject(env, "could not build the result object");
      return;
    }
    deferred_.Resolve(out);
  }

 private:
  musiq::TokenOptions options_;
  musiq::TokenResult result_;
};

// VILA-R input: same contract as ExtractWorker (input copied, kernel on the
// libuv pool, result handed over without a copy).
class VilaWorker : public PixelWorker {
 public:
  VilaWorker(Napi::Env env, std::unique_ptr<uint8_t[]> pixels, size_t bytes,
             int64_t height, int64_t width, musiq::VilaOptions options)
      : PixelWorker(env, "musiq:vilaPreprocess", std::move(pixels), bytes, height, width),
        options_(options) {}

 protected:
  void Execute() override {
    RunKernel([this](const uint8_t* px, size_t bytes, int64_t h, int64_t w) {
      return musiq::VilaPreprocess(px, bytes, h, w, options_, &result_);
    });
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const size_t count = static_cast<size_t>(options_.crop * options_.crop * musiq::kChannels);
    Napi::Float32Array pixels = FloatsOrReject(env, &result_, count, "could not allocate the VILA input array");
    if (!pixels.IsEmpty()) deferred_.Resolve(pixels);
  }

 private:
  musiq::VilaOptions options_;
  musiq::TokenBuffer result_;
};

// The arguments both preprocessing calls take: (pixels: Uint8Array, height,
// width, options: object). False after throwing a TypeError.
struct PixelArgs {
  Napi::TypedArray pixels;
  int64_t height = 0;
  int64_t width = 0;
  Napi::Object options;
};

bool ParsePixelArgs(const Napi::CallbackInfo& info, const char* call, PixelArgs* out) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) {
    ThrowTypeError(env, std::string(call) + "(pixels, height, width, options) expects 4 arguments, got " +
                            std::to_string(info.Length()));
    return false;
  }
  if (!info[0].IsTypedArray() ||
      (info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array &&
       info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_clamped_array)) {
    ThrowTypeError(env, "pixels must be a Uint8Array (H x W x 3 RGB bytes)");
    return false;
  }
  const char* problem = !GetInteger(info[1], &out->height) ? "height must be an integer"
                        : !GetInteger(info[2], &out->width) ? "width must be an integer"
                        : !info[3].IsObject()               ? "options must be an object"
                                                            : nullptr;
  if (problem != nullptr) {
    ThrowTypeError(env, problem);
    return false;
  }
  out->pixels = info[0].As<Napi::TypedArray>();
  out->options = info[3].As<Napi::Object>();
  return true;
}

// Rejects with the kernel's size check, or copies the pixels and queues the
// worker (which deletes itself after OnOK/OnError).
template <typename Worker, typename Options>
Napi::Value QueueWorker(Napi::Env env, const PixelArgs& args, musiq::Status check, Options options) {
  Napi::Promise::Deferred early = Napi::Promise::Deferred::New(env);
  if (!check.ok()) {
    early.Reject(MakeError(env, check.error).Value());
    return early.Promise();
  }
  std::unique_ptr<uint8_t[]> copy = CopyPixels(env, args.pixels, &early);
  if (!copy) return early.Promise();
  auto* worker = new Worker(env, std::move(copy), args.pixels.ByteLength(), args.height,
                            args.width, std::move(options));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ExtractTokens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PixelArgs args;
  if (!ParsePixelArgs(info, "extractTokens", &args)) return env.Undefined();

  musiq::TokenOptions options;
  Napi::Value sides = args.options.Get("longerSides");
  if (env.IsExceptionPending()) return env.Undefined();
  if (!sides.IsArray()) {
    return ThrowTypeError(env, "options.longerSides must be an array of integers");
  }
  Napi::Array arr = sides.As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (n > musiq::kMaxScales) {
    return ThrowTypeError(env, "options.longerSides may hold at most " +
                                   std::to_string(musiq::kMaxScales) + " entries");
  }
  options.longer_sides.clear();
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value v = arr.Get(i);
    if (env.IsExceptionPending()) return env.Undefined();
    int64_t side = 0;
    if (!GetInteger(v, &side)) {
      return ThrowTypeError(env, "options.longerSides[" + std::to_string(i) +
                                     "] must be an integer");
    }
    options.longer_sides.push_back(side);
  }
  Napi::Value cap = args.options.Get("maxNativePatches");
  if (env.IsExceptionPending()) return env.Undefined();
  if (!GetInteger(cap, &options.max_native_patches)) {
    return ThrowTypeError(env, "options.maxNativePatches must be an integer (-1 = all)");
  }

  musiq::TokenPlan plan;
  musiq::Status check = musiq::PlanTokens(args.height, args.width, args.pixels.ByteLength(), options, &plan);
  return QueueWorker<ExtractWorker>(env, args, check, std::move(options));
}

// vilaPreprocess(pixels: Uint8Array, height, width, { resize, crop })
//   => Promise<Float32Array> (crop x crop x 3, in [0, 1])
Napi::Value VilaPreprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PixelArgs args;
  if (!ParsePixelArgs(info, "vilaPreprocess", &args)) return env.Undefined();
  musiq::VilaOptions options;
  Napi::Value resize = args.options.Get("resize");
  if (env.IsExceptionPending()) return env.Undefined();
  if (!GetInteger(resize, &options.resize)) return ThrowTypeError(env, "options.resize must be an integer");
  Napi::Value crop = args.options.Get("crop");
  if (env.IsExceptionPending()) return env.Undefined();
  if (!GetInteger(crop, &options.crop)) return ThrowTypeError(env, "options.crop must be an integer");

  musiq::Status check = musiq::CheckVilaInput(args.height, args.width, args.pixels.ByteLength(), options);
  return QueueWorker<VilaWorker>(env, args, check, options);
}

// hashIndices(count) => Int32Array of the legacy nearest-neighbour hash
// indices for one axis (spec section 7). Synchronous; for tests and tools.
Napi::Value HashIndices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t count = 0;
  if (info.Length() < 1 || !GetInteger(info[0], &count) || count < 1 ||
      count > musiq::kMaxSide) {
    return ThrowTypeError(env, "hashIndices(count): count must be an integer in [1, " +
                                   std::to_string(musiq::kMaxSide) + "]");
  }
  Napi::Int32Array out = Napi::Int32Array::New(env, static_cast<size_t>(count));
  if (env.IsExceptionPending()) return env.Undefined();
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = musiq::HashIndex(i, count);
  return out;
}

// resizedSize(height, width, longerSide) => [resizedHeight, resizedWidth]
// (spec section 4; either may be 0). Synchronous; for tests and tools.
Napi::Value ResizedSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t h = 0, w = 0, L = 0;
  const int64_t max = musiq::kMaxSide;
  if (info.Length() < 3 || !GetInteger(info[0], &h) || !GetInteger(info[1], &w) ||
      !GetInteger(info[2], &L) || h < 1 || w < 1 || L < 1 || h > max || w > max ||
      L > max) {
    return ThrowTypeError(env, "resizedSize(height, width, longerSide): integers in [1, " +
                                   std::to_string(max) + "] expected");
  }
  int64_t rh = 0, rw = 0;
  musiq::ResizedSize(h, w, L, &rh, &rw);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(rh)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(rw)));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("extractTokens", Napi::Function::New(env, ExtractTokens, "extractTokens"));
  exports.Set("vilaPreprocess", Napi::Function::New(env, VilaPreprocess, "vilaPreprocess"));
  exports.Set("vilaMaxResize", Napi::Number::New(env, static_cast<double>(musiq::kVilaMaxResize)));
  exports.Set("hashIndices", Napi::Function::New(env, HashIndices, "hashIndices"));
  exports.Set("resizedSize", Napi::Function::New(env, ResizedSize, "resizedSize"));
  exports.Set("tokenWidth", Napi::Number::New(env, static_cast<double>(musiq::kTokenWidth)));
  exports.Set("patchSize", Napi::Number::New(env, static_cast<double>(musiq::kPatchSize)));
  exports.Set("maxSide", Napi::Number::New(env, static_cast<double>(musiq::kMaxSide)));
  exports.Set("maxLongerSide", Napi::Number::New(env, static_cast<double>(musiq::kMaxLongerSide)));
  return exports;
}

}  // namespace

NODE_API_MODULE(musiq_native, Init)
