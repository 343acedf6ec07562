// Stream facts of an opened input, as the JSON `ffprobe -show_format -show_streams` prints (the fields
// lib/data/media-info.ts parseProbe reads), so both decoders share one parser.
#pragma once
#ifdef SMAE_WITH_LIBAV
#include <string>

#include "libav.h"

namespace smae::media {
std::string probeJson(const Input& in);
}
#endif
