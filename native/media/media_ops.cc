// The media ops: mediaProbe / mediaDecodeAudio / mediaDecodeVideo run on libuv's worker threads (napi async
// work) and settle a Promise, so the JS thread never decodes; mediaVersions is synchronous. Registered
// only when the build found FFmpeg's libraries (lib/data/decoder.ts checks for them).
#ifdef SMAE_WITH_LIBAV
#include <cstring>
#include <memory>
#include <vector>

#include "../common/args.h"
#include "../common/async_job.h"
#include "audio.h"
#include "libav.h"
#include "probe.h"
#include "video.h"

namespace {

using smae::JsError;

napi_value set(napi_env env, napi_value obj, const char* key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
  return obj;
}
napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

/**
 * A typed array over the decoded samples or pixels without copying them: the vector moves into an external
 * ArrayBuffer that frees it when collected. A 720p clip's 8 frames are 22 MB, which a copy into a fresh
 * (zero-filled) ArrayBuffer cost in memset, memmove and page faults (about a tenth of its decode CPU).
 * Where the runtime refuses external buffers, the bytes are copied.
 */
template <typename T>
napi_value typedArrayOf(napi_env env, std::vector<T>&& v, napi_typedarray_type type) {
  const size_t n = v.size(), bytes = n * sizeof(T);
  napi_value ab, arr;
  auto* owned = new std::vector<T>(std::move(v));
  auto release = [](napi_env, void*, void* hint) { delete static_cast<std::vector<T>*>(hint); };
  if (bytes == 0 || napi_create_external_arraybuffer(env, owned->data(), bytes, release, owned, &ab) != napi_ok) {
    void* mem = nullptr;
    napi_create_arraybuffer(env, bytes, &mem, &ab);
    if (bytes) std::memcpy(mem, owned->data(), bytes);
    delete owned;
  }
  napi_create_typedarray(env, type, n, ab, 0, &arr);
  return arr;
}

}  // namespace

/** mediaVersions() -> "libavformat 59.27.100, libavcodec ..." */
SMAE_OP(mediaVersions) {
  auto v = [](unsigned x) { return std::to_string(x >> 16) + "." + std::to_string((x >> 8) & 0xff) + "." + std::to_string(x & 0xff); };
  return a.retString("libavformat " + v(avformat_version()) + ", libavcodec " + v(avcodec_version()) + ", libavfilter " + v(avfilter_version()));
}

/** mediaProbe(path, timeoutMs) -> Promise<string> (ffprobe-shaped JSON) */
SMAE_OP(mediaProbe) {
  smae::AsyncJob job;
  job.fallbackCode = "ERR_MEDIA";
  auto path = a.s(0);
  int64_t timeoutMs = a.i64(1);
  auto out = std::make_shared<std::string>();
  job.run = [=] {
    smae::media::beginLogCapture();
    auto in = smae::media::openInput(path, timeoutMs);
    *out = smae::media::probeJson(*in);
  };
  job.done = [out](napi_env env) {
    napi_value s;
    napi_create_string_utf8(env, out->data(), out->size(), &s);
    return s;
  };
  return smae::queueAsync(a, std::move(job));
}

/** mediaDecodeAudio(path, audioOrdinal, sampleRate, channels, s16, maxSamples, maxSeconds, timeoutMs)
 *  -> Promise<{data: Float32Array [channels*samples planar], channels, samples, sampleRate}> */
SMAE_OP(mediaDecodeAudio) {
  smae::AsyncJob job;
  job.fallbackCode = "ERR_MEDIA";
  smae::media::AudioRequest req;
  req.path = a.s(0);
  req.ordinal = static_cast<int>(a.i64(1));
  req.sampleRate = static_cast<int>(a.i64(2));
  req.channels = static_cast<int>(a.i64(3));
  req.s16 = a.b(4);
  req.maxSamples = a.i64(5);
  req.maxSeconds = a.d(6);
  req.timeoutMs = a.i64(7);
  auto res = std::make_shared<smae::media::AudioResult>();
  job.run = [=] { *res = smae::media::decodeAudio(req); };
  job.done = [res](napi_env env) {
    napi_value obj;
    napi_create_object(env, &obj);
    napi_value arr = typedArrayOf(env, std::move(res->data), napi_float32_array);
    set(env, obj, "data", arr);
    set(env, obj, "channels", num(env, res->channels));
    set(env, obj, "samples", num(env, static_cast<double>(res->samples)));
    return set(env, obj, "sampleRate", num(env, res->sampleRate));
  };
  return smae::queueAsync(a, std::move(job));
}

/** mediaDecodeVideo(path, stream, indices, startUs, filters, pixelFormat, timeoutMs)
 *  -> Promise<{frames: Uint8Array[] (packed H*W*3), width, height, counted, skipped, pictures, redone}> */
SMAE_OP(mediaDecodeVideo) {
  smae::AsyncJob job;
  job.fallbackCode = "ERR_MEDIA";
  smae::media::VideoRequest req;
  req.path = a.s(0);
  req.stream = static_cast<int>(a.i64(1));
  req.indices = a.ints(2);
  req.startUs = a.i64(3);
  req.filters = a.s(4);
  req.pixelFormat = a.s(5);
  req.timeoutMs = a.i64(6);
  if (req.indices.empty()) throw JsError("ERR_INVALID_ARG", "indices must not be empty");
  auto res = std::make_shared<smae::media::VideoResult>();
  job.run = [=] { *res = smae::media::decodeVideo(req); };
  job.done = [res](napi_env env) {
    napi_value obj, list;
    napi_create_object(env, &obj);
    napi_create_array_with_length(env, res->frames.size(), &list);
    for (size_t i = 0; i < res->frames.size(); i++)
      napi_set_element(env, list, static_cast<uint32_t>(i), typedArrayOf(env, std::move(res->frames[i]), napi_uint8_array));
    set(env, obj, "frames", list);
    set(env, obj, "width", num(env, res->width));
    set(env, obj, "counted", num(env, static_cast<double>(res->counted)));
    set(env, obj, "skipped", num(env, static_cast<double>(res->skipped)));
    set(env, obj, "pictures", num(env, static_cast<double>(res->pictures)));
    napi_value redone;
    napi_get_boolean(env, res->redone, &redone);
    set(env, obj, "redone", redone);
    return set(env, obj, "height", num(env, res->height));
  };
  return smae::queueAsync(a, std::move(job));
}
#endif
