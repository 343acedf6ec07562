// RAII helpers, log capture and input opening for the in-process decoder (see libav.h).
#ifdef SMAE_WITH_LIBAV
#include "libav.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace smae::media {

namespace {
thread_local bool capturing = false;
thread_local std::string logText;
thread_local uint64_t logCount = 0;

void logCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (!capturing || level > AV_LOG_ERROR) return;
  char line[512];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
  logCount++;
  logText += line;
  if (logText.size() > 4096) logText.erase(0, logText.size() - 2048);
}

int interruptCb(void* opaque) {
  Input* in = static_cast<Input*>(opaque);
  if (std::chrono::steady_clock::now() < in->deadline) return 0;
  in->timedOut = true;
  return 1;
}
}  // namespace

void beginLogCapture() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(logCallback); });
  capturing = true;
  logText.clear();
}

std::string capturedLog() { return logText; }

uint64_t capturedCount() { return logCount; }

void fail(const std::string& what, int averr) {
  std::string msg = what;
  if (averr < 0) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, buf, sizeof buf);
    msg += std::string(": ") + buf;
  }
  if (!logText.empty()) msg += "\n" + logText;
  throw JsError("ERR_MEDIA", msg);
}

FramePtr newFrame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw JsError("ERR_OOM", "av_frame_alloc failed");
  return f;
}

PacketPtr newPacket() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw JsError("ERR_OOM", "av_packet_alloc failed");
  return p;
}

std::unique_ptr<Input> openInput(const std::string& path, int64_t timeoutMs) {
  auto in = std::make_unique<Input>();
  in->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  AVFormatContext* ctx = avformat_alloc_context();
  if (!ctx) throw JsError("ERR_OOM", "avformat_alloc_context failed");
  ctx->interrupt_callback = {interruptCb, in.get()};
  // "file:" as the process path's mediaInputArg does: a name is never a protocol or an option.
  int r = avformat_open_input(&ctx, ("file:" + path).c_str(), nullptr, nullptr);
  if (r < 0) {  // avformat_open_input frees ctx on failure
    if (in->timedOut) throw JsError("ERR_MEDIA", "timeout: opening did not finish within " + std::to_string(timeoutMs) + " ms");
    fail(path, r);
  }
  in->fmt.reset(ctx);
  r = avformat_find_stream_info(ctx, nullptr);
  if (in->timedOut) throw JsError("ERR_MEDIA", "timeout: probing did not finish within " + std::to_string(timeoutMs) + " ms");
  if (r < 0) fail("Could not find codec parameters", r);
  return in;
}

CodecPtr openDecoder(const AVStream* st) {
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) fail(std::string("Decoder (codec ") + avcodec_get_name(st->codecpar->codec_id) + ") not found");
  CodecPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw JsError("ERR_OOM", "avcodec_alloc_context3 failed");
  int r = avcodec_parameters_to_context(ctx.get(), st->codecpar);
  if (r < 0) fail("avcodec_parameters_to_context", r);
  ctx->pkt_timebase = st->time_base;
  ctx->thread_count = 1;  // parallelism comes from decoding several clips at once
  r = avcodec_open2(ctx.get(), codec, nullptr);
  if (r < 0) fail(std::string("Decoder (codec ") + codec->name + ") could not be opened", r);
  return ctx;
}

}  // namespace smae::media
#endif
