// In-process FFmpeg (libavformat/libavcodec/libavfilter): RAII owners, the error type, the log capture and
// opening a file. Compiled only when the build found the libraries (SMAE_WITH_LIBAV; CMakeLists.txt and
// binding.gyp ask pkg-config); otherwise the data path uses the ffmpeg processes (lib/data/ffmpeg.ts).
#pragma once
#ifdef SMAE_WITH_LIBAV
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
}

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "../common/errors.h"

namespace smae::media {

struct FormatCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecFreer {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct GraphFreer {
  void operator()(AVFilterGraph* p) const { avfilter_graph_free(&p); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using GraphPtr = std::unique_ptr<AVFilterGraph, GraphFreer>;

FramePtr newFrame();
PacketPtr newPacket();

/** Starts capturing libav's error messages of this thread (libav itself prints nothing). */
void beginLogCapture();
/** The messages captured on this thread since beginLogCapture (last ~2 KB). */
std::string capturedLog();
/** How many messages this thread has captured so far (a growing count: compare two readings). */
uint64_t capturedCount();

/**
 * A libav failure: code ERR_MEDIA, message = what failed + libav's own messages of this call (JS classifies
 * them with the process path's rules, lib/data/ffmpeg-env.ts classifyFfmpegError).
 */
[[noreturn]] void fail(const std::string& what, int averr = 0);

/** An input file opened and probed (avformat_find_stream_info) as ffmpeg/ffprobe do. */
struct Input {
  FormatPtr fmt;
  std::chrono::steady_clock::time_point deadline;
  bool timedOut = false;
};
/** Opens `path` (a plain file path); every blocking read gives up after timeoutMs (then fail 'timeout'). */
std::unique_ptr<Input> openInput(const std::string& path, int64_t timeoutMs);
/** A decoder for stream `index`, single-threaded, opened. */
CodecPtr openDecoder(const AVStream* st);

}  // namespace smae::media
#endif
