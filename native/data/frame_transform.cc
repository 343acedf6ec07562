// The reference's per-frame transform (lib/data/frames.ts framesToTensor) fused into one pass over the
// decoded bytes: ToTensor (uint8 HxWx3 -> float32 v / 255), Resize (bicubic, a = -0.75, align_corners
// False, no antialias, no clamp) and Normalize ((x - mean[c]) / std[c]), written straight into the
// caller's [3, outH, outW, P] buffer (time last) with slot t taking frame positions[t].
//
// Why not tensor ops: on a 720p frame ToTensor alone writes three full-size float intermediates, and
// each freshly allocated one is faulted in page by page (8 frames of 720p cost 0.09-0.13 CPU-s that way,
// bench/RESULTS.md); here the bicubic reads the bytes through a 256-entry table and only the output is
// written. The arithmetic repeats LibTorch 1.13's CPU kernel (aten/src/ATen/native/cpu/UpSampleKernel.cpp,
// HelperInterpCubic and the Interpolate recursion): float32 scale = in / out, source index
// scale * (i + 0.5) - 0.5, floor, the four cubic-convolution weights, clamped taps, and the sum
// ((r0 h0 + r1 h1) + r2 h2) + r3 h3 of the rows r = ((x0 w0 + x1 w1) + x2 w2) + x3 w3. Built without FMA
// (-O2, baseline x86-64), so every step rounds as the scalar kernel does; test/data/frame_transform.test.ts
// compares with LibTorch's interpolate.
#include <node_api.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../common/args.h"

namespace {

using smae::JsError;

/** One axis of the bicubic: per output index, four clamped source indices and their weights. */
struct Taps {
  std::vector<std::array<int64_t, 4>> idx;
  std::vector<std::array<float, 4>> w;
};

float cubic1(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
float cubic2(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

Taps bicubicTaps(int64_t in, int64_t out) {
  Taps t;
  t.idx.resize(out);
  t.w.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float A = -0.75f;
  for (int64_t i = 0; i < out; i++) {
    // The source index in double from the float scale (LibTorch's index helper computes it so: with a
    // float source index the weights differ by up to 1e-5).
    const double real = static_cast<double>(scale) * (static_cast<double>(i) + 0.5) - 0.5;
    const int64_t base = static_cast<int64_t>(std::floor(real));
    const float f = static_cast<float>(real - static_cast<double>(base));
    t.w[i] = {cubic2(f + 1.0f, A), cubic1(f, A), cubic1(1.0f - f, A), cubic2((1.0f - f) + 1.0f, A)};
    for (int j = 0; j < 4; j++) t.idx[i][j] = std::min(std::max(base - 1 + j, int64_t{0}), in - 1);
  }
  return t;
}

}  // namespace

/**
 * framesTransform(out: Float32Array, frames: Uint8Array[], width, height, outH, outW,
 *                 mean: number[3] | null, std: number[3], positions: number[]) -> undefined
 * frames: U packed HxWx3 uint8 frames; out: [3, outH, outW, P] float32, P = positions.length, slot t =
 * transformed frame positions[t]. Same size in and out: the bicubic is the identity (LibTorch copies).
 */
SMAE_OP(framesTransform) {
  size_t outLen = 0;
  float* out = static_cast<float*>(a.typedArray(0, napi_float32_array, outLen, "a Float32Array (out)"));
  const int64_t W = a.i64(2), H = a.i64(3), OH = a.i64(4), OW = a.i64(5);
  if (W <= 0 || H <= 0 || OH <= 0 || OW <= 0) throw JsError("ERR_INVALID_ARG", "framesTransform: sizes must be positive");
  bool isArr = false;
  napi_is_array(a.env, a.argv[1], &isArr);
  if (!isArr) a.fail(1, "an array of Uint8Array frames");
  uint32_t U = 0;
  napi_get_array_length(a.env, a.argv[1], &U);
  std::vector<const uint8_t*> frames(U);
  const size_t frameBytes = static_cast<size_t>(W) * H * 3;
  for (uint32_t k = 0; k < U; k++) {
    smae::TypedView v = smae::typedView(a.env, a.element(1, k));
    if (!v.ok || v.type != napi_uint8_array || v.length != frameBytes)
      throw JsError("ERR_INVALID_ARG", "framesTransform: frame " + std::to_string(k) + " must be a Uint8Array of " + std::to_string(frameBytes) + " bytes (" +
                                           std::to_string(W) + "x" + std::to_string(H) + "x3), got " + (v.ok ? std::to_string(v.length) + " elements" : "another type"));
    frames[k] = static_cast<const uint8_t*>(v.data);
  }
  const bool normalize = !a.isNullish(6);
  std::vector<double> mean = normalize ? a.doubles(6) : std::vector<double>{0, 0, 0};
  std::vector<double> stdv = normalize ? a.doubles(7) : std::vector<double>{1, 1, 1};
  if (mean.size() != 3 || stdv.size() != 3) throw JsError("ERR_INVALID_ARG", "framesTransform: mean and std need 3 values");
  std::vector<int64_t> positions = a.ints(8);
  const size_t P = positions.size();
  for (int64_t p : positions)
    if (p < 0 || p >= static_cast<int64_t>(U)) throw JsError("ERR_INVALID_ARG", "framesTransform: position " + std::to_string(p) + " outside [0, " + std::to_string(U) + ")");
  const size_t plane = static_cast<size_t>(OH) * OW;
  if (outLen != 3 * plane * P)
    throw JsError("ERR_INVALID_ARG", "framesTransform: out has " + std::to_string(outLen) + " elements, [3, " + std::to_string(OH) + ", " + std::to_string(OW) + ", " +
                                         std::to_string(P) + "] needs " + std::to_string(3 * plane * P));

  // ToTensor as a table: v / 255 in float32 (correctly rounded, as the tensor division).
  float lut[256];
  for (int v = 0; v < 256; v++) lut[v] = static_cast<float>(v) / 255.0f;
  const float m[3] = {static_cast<float>(mean[0]), static_cast<float>(mean[1]), static_cast<float>(mean[2])};
  const float s[3] = {static_cast<float>(stdv[0]), static_cast<float>(stdv[1]), static_cast<float>(stdv[2])};
  auto norm = [&](float x, int c) { return normalize ? (x - m[c]) / s[c] : x; };

  const bool same = W == OW && H == OH;
  Taps tx, ty;
  std::vector<float> rows;  // [3][H][OW]: the width pass of every source row
  if (!same) {
    tx = bicubicTaps(W, OW);
    ty = bicubicTaps(H, OH);
    rows.resize(3 * static_cast<size_t>(H) * OW);
  }
  std::vector<float> plane3(3 * plane);  // one transformed frame, [3][OH][OW]
  for (uint32_t u = 0; u < U; u++) {
    bool used = false;
    for (int64_t p : positions) used = used || p == static_cast<int64_t>(u);
    if (!used) continue;
    const uint8_t* px = frames[u];
    if (same) {
      for (size_t q = 0; q < plane; q++)
        for (int c = 0; c < 3; c++) plane3[c * plane + q] = norm(lut[px[q * 3 + c]], c);
    } else {
      for (int64_t y = 0; y < H; y++) {
        const uint8_t* row = px + static_cast<size_t>(y) * W * 3;
        for (int64_t ox = 0; ox < OW; ox++) {
          const auto& ix = tx.idx[ox];
          const auto& wx = tx.w[ox];
          for (int c = 0; c < 3; c++) {
            float r = lut[row[ix[0] * 3 + c]] * wx[0];
            r += lut[row[ix[1] * 3 + c]] * wx[1];
            r += lut[row[ix[2] * 3 + c]] * wx[2];
            r += lut[row[ix[3] * 3 + c]] * wx[3];
            rows[(static_cast<size_t>(c) * H + y) * OW + ox] = r;
          }
        }
      }
      for (int c = 0; c < 3; c++) {
        const float* rc = rows.data() + static_cast<size_t>(c) * H * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
          const auto& iy = ty.idx[oy];
          const auto& wy = ty.w[oy];
          const float *r0 = rc + iy[0] * OW, *r1 = rc + iy[1] * OW, *r2 = rc + iy[2] * OW, *r3 = rc + iy[3] * OW;
          float* o = plane3.data() + c * plane + static_cast<size_t>(oy) * OW;
          for (int64_t ox = 0; ox < OW; ox++) {
            float v = r0[ox] * wy[0];
            v += r1[ox] * wy[1];
            v += r2[ox] * wy[2];
            v += r3[ox] * wy[3];
            o[ox] = norm(v, c);
          }
        }
      }
    }
    // Scatter into every slot that shows this frame: out[c][q][t].
    for (size_t t = 0; t < P; t++) {
      if (positions[t] != static_cast<int64_t>(u)) continue;
      for (int c = 0; c < 3; c++) {
        const float* src = plane3.data() + c * plane;
        float* dst = out + c * plane * P + t;
        for (size_t q = 0; q < plane; q++) dst[q * P] = src[q];
      }
    }
  }
  return a.undefined();
}
