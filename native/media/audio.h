// Decoding an audio stream in-process, the way `ffmpeg -i file -map 0:a:N [-ar R] [-ac C -rematrix_maxval 1]
// -c:a pcm_f32le|pcm_s16le -f wav` does (lib/data/ffmpeg.ts decodeAudio), to planar float32.
#pragma once
#ifdef SMAE_WITH_LIBAV
#include <cstdint>
#include <string>
#include <vector>

namespace smae::media {

struct AudioRequest {
  std::string path;
  int ordinal = 0;        // among the audio streams (ffmpeg's -map 0:a:N)
  int sampleRate = 0;     // 0: the stream's own
  int channels = 0;       // 0: the stream's own
  bool s16 = false;       // convert through 16-bit PCM (values int16/32768)
  int64_t maxSamples = -1;        // stop after this many samples per channel (-1: all)
  double maxSeconds = -1;         // or after this many seconds at the output rate (-1: no bound)
  int64_t timeoutMs = 60000;
};

struct AudioResult {
  std::vector<float> data;  // planar [channels, samples]
  int channels = 0, sampleRate = 0;
  int64_t samples = 0;
};

AudioResult decodeAudio(const AudioRequest& req);

}  // namespace smae::media
#endif
