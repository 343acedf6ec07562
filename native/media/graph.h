// A one-input one-output libavfilter graph built from the same filter text the ffmpeg command line gets
// (lib/data/ffmpeg.ts), so frames and samples are converted exactly as in the process path.
#pragma once
#ifdef SMAE_WITH_LIBAV
#include <string>

#include "libav.h"

namespace smae::media {

struct Graph {
  GraphPtr graph;
  AVFilterContext* src = nullptr;
  AVFilterContext* sink = nullptr;
};

/**
 * `source`: "buffer=..." or "abuffer=..." arguments for the input; `chain`: the filters after it, ending in
 * the output format; `swsOpts` / `swrOpts`: the graph's options for automatically inserted converters.
 */
Graph makeGraph(const std::string& source, const std::string& chain, bool audio, const std::string& swsOpts,
                const std::string& swrOpts);

}  // namespace smae::media
#endif
