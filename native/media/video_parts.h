// What the two decode loops of decodeVideo share: video.cc decodes every picture, video_skip.cc skips the
// non-reference pictures that are not kept and falls back to video.cc's loop when a check fails.
#pragma once
#ifdef SMAE_WITH_LIBAV
#include <memory>
#include <optional>
#include <string>

#include "graph.h"
#include "libav.h"
#include "video.h"

namespace smae::media {

/** The input opened and sought as the ffmpeg command line does, its other streams discarded, the decoder open. */
struct OpenedVideo {
  std::unique_ptr<Input> in;
  AVStream* st = nullptr;
  int64_t offset = 0;  // added to every timestamp: -ss becomes 0
  CodecPtr dec;
};
OpenedVideo openVideo(const VideoRequest& req);

/** Throws ERR_MEDIA 'timeout' once the input's deadline has passed. */
void checkTimeout(const Input& in, int64_t timeoutMs);

/** Converts kept frames through the request's filter chain (the graph is built from the first kept frame). */
class FrameConverter {
 public:
  FrameConverter(const VideoRequest& req, const AVStream* st);
  /** Appends the converted frame (packed H*W*3) to res.frames. */
  void add(AVFrame* fr, VideoResult& res);

 private:
  std::string chain_;
  AVRational timeBase_;
  Graph g_;
  FramePtr out_;
};

/** Whether decodeSkipping may try this request: H.264 with a known NAL unit framing, frames selected (not counted). */
bool skippingApplies(const VideoRequest& req, const OpenedVideo& v);

/**
 * The selected frames, decoding only the pictures that are kept or referenced (video_skip.cc), with the bytes
 * and count decoding every picture gives; std::nullopt when a check failed (the caller then reopens the
 * input and decodes every picture).
 */
std::optional<VideoResult> decodeSkipping(const VideoRequest& req, OpenedVideo& v);

}  // namespace smae::media
#endif
