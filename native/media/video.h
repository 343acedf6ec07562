// Decoding selected video frames in-process, the way `ffmpeg -ss T -i file -fps_mode passthrough
// -vf select=...,<filters> -pix_fmt P -f rawvideo` does (lib/data/ffmpeg.ts decodeVideoFrames).
#pragma once
#ifdef SMAE_WITH_LIBAV
#include <cstdint>
#include <string>
#include <vector>

namespace smae::media {

struct VideoRequest {
  std::string path;
  int stream = 0;                 // absolute stream index
  std::vector<int64_t> indices;   // strictly increasing, counted from the seek point
  int64_t startUs = -1;           // the -ss time in microseconds, or -1 (decode from the start)
  std::string filters;            // the -vf chain after select (e.g. "scale=in_color_matrix=bt601:flags=bicubic")
  std::string pixelFormat;        // bgr24 | rgb24
  int64_t timeoutMs = 60000;
};

struct VideoResult {
  std::vector<std::vector<uint8_t>> frames;  // packed H*W*3 each
  int width = 0, height = 0;
  int64_t counted = 0;  // frames counted after the seek point (all of them when no index is reached)
  int64_t skipped = 0;  // packets whose non-reference picture was not decoded (video_skip.cc)
  int64_t pictures = 0;  // packets sent to the decoder and decoded (not skipped), in the decode that gave the frames
  bool redone = false;  // skipping was tried, a check failed, and every picture was decoded instead
};

VideoResult decodeVideo(const VideoRequest& req);

}  // namespace smae::media
#endif
