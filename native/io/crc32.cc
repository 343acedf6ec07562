// CRC-32 (zip's: reflected polynomial 0xEDB88320, the value zlib's crc32 returns) for checkpoint
// reading. On x86-64 CPUs with PCLMULQDQ it folds 64 bytes per step with carry-less multiplies
// (Intel, "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", 2009; the constants and
// steps are those of Chromium's zlib, crc32_simd.c), about 4x zlib's table-driven speed; a byte table
// handles the rest and other CPUs. lib/io/crc32.ts has the JS entry point (zlib.crc32) that everything
// else uses; test/io/zip.test.ts checks that both agree.
#include <node_api.h>

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../common/args.h"

using smae::Args;
using smae::JsError;

namespace {

struct Table {
  uint32_t v[256];
  Table() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      v[n] = c;
    }
  }
};

/** Continues the inverted CRC state `c` (~crc) over `len` bytes, one byte at a time. */
uint32_t crcBytes(uint32_t c, const uint8_t* p, size_t len) {
  static const Table table;
  while (len--) c = table.v[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
/** Folds `len` bytes (a multiple of 16, at least 64) into the inverted CRC state `c`. */
__attribute__((target("sse4.1,pclmul"))) uint32_t crcFold(uint32_t c, const uint8_t* buf, size_t len) {
  alignas(16) static const uint64_t k1k2[] = {0x0154442bd4, 0x01c6e41596};
  alignas(16) static const uint64_t k3k4[] = {0x01751997d0, 0x00ccaa009e};
  alignas(16) static const uint64_t k5k0[] = {0x0163cd6124, 0x0000000000};
  alignas(16) static const uint64_t poly[] = {0x01db710641, 0x01f7011641};
  __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8, y5, y6, y7, y8;
  x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x00));
  x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x10));
  x3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x20));
  x4 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x30));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(c)));
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
  buf += 64;
  len -= 64;
  // Four 128-bit lanes folded 64 bytes ahead at a time.
  while (len >= 64) {
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
    x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
    x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
    x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
    y5 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x00));
    y6 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x10));
    y7 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x20));
    y8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x30));
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), y5);
    x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), y6);
    x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), y7);
    x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), y8);
    buf += 64;
    len -= 64;
  }
  // Fold the four lanes into one.
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
  // Remaining 16-byte blocks.
  while (len >= 16) {
    x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    buf += 16;
    len -= 16;
  }
  // 128 -> 64 bits.
  x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
  x3 = _mm_setr_epi32(~0, 0, ~0, 0);
  x1 = _mm_srli_si128(x1, 8);
  x1 = _mm_xor_si128(x1, x2);
  x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, x3);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  // Barrett reduction to 32 bits.
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
  x2 = _mm_and_si128(x1, x3);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
  x2 = _mm_and_si128(x2, x3);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

const bool kHasClmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif

uint32_t crc32(uint32_t crc, const uint8_t* p, size_t len) {
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (kHasClmul && len >= 64) {
    size_t n = len & ~size_t(15);
    c = crcFold(c, p, n);
    p += n;
    len -= n;
  }
#endif
  return ~crcBytes(c, p, len);
}

}  // namespace

/** crc32(bytes: Uint8Array, value = 0) -> CRC-32 of `bytes` continuing from `value`, as zlib.crc32. */
SMAE_OP(crc32) {
  bool isTyped = false;
  napi_is_typedarray(a.env, a.argv[0], &isTyped);
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (isTyped) napi_get_typedarray_info(a.env, a.argv[0], &type, &length, &data, &ab, &offset);
  if (!isTyped || type != napi_uint8_array) a.fail(0, "a Uint8Array");
  double v = a.isNullish(1) ? 0 : a.d(1);
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint32_t>(v)))
    throw JsError("ERR_INVALID_ARG", "crc32: value must be an unsigned 32-bit integer");
  return a.retNumber(crc32(static_cast<uint32_t>(v), static_cast<const uint8_t*>(data), length));
}
