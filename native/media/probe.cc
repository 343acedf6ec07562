// ffprobe-shaped JSON from libavformat's stream facts (see probe.h). Numbers are formatted as ffprobe
// formats them (times with 6 decimals, rates as "num/den"), so parseProbe gives the same MediaInfo.
#ifdef SMAE_WITH_LIBAV
#include "probe.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <cmath>
#include <cstdio>

namespace smae::media {

namespace {
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}
std::string rate(AVRational r) { return quote(std::to_string(r.num) + "/" + std::to_string(r.den)); }
std::string seconds(int64_t ts, AVRational tb) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%f\"", ts * av_q2d(tb));
  return buf;
}
}  // namespace

std::string probeJson(const Input& in) {
  const AVFormatContext* f = in.fmt.get();
  std::string s = "{\"streams\":[";
  for (unsigned i = 0; i < f->nb_streams; i++) {
    const AVStream* st = f->streams[i];
    const AVCodecParameters* p = st->codecpar;
    const char* type = av_get_media_type_string(p->codec_type);
    if (i) s += ",";
    s += "{\"index\":" + std::to_string(i);
    s += ",\"codec_type\":" + quote(type ? type : "unknown");
    s += ",\"codec_name\":" + quote(avcodec_get_name(p->codec_id));
    s += ",\"time_base\":" + rate(st->time_base);
    if (st->start_time != AV_NOPTS_VALUE) s += ",\"start_time\":" + seconds(st->start_time, st->time_base);
    if (st->duration != AV_NOPTS_VALUE) {
      s += ",\"duration_ts\":" + std::to_string(st->duration);
      s += ",\"duration\":" + seconds(st->duration, st->time_base);
    }
    if (st->nb_frames) s += ",\"nb_frames\":\"" + std::to_string(st->nb_frames) + "\"";
    s += ",\"disposition\":{\"attached_pic\":" + std::to_string((st->disposition & AV_DISPOSITION_ATTACHED_PIC) ? 1 : 0) + "}";
    if (p->codec_type == AVMEDIA_TYPE_VIDEO) {
      s += ",\"width\":" + std::to_string(p->width) + ",\"height\":" + std::to_string(p->height);
      const char* pf = av_get_pix_fmt_name(static_cast<AVPixelFormat>(p->format));
      if (pf) s += ",\"pix_fmt\":" + quote(pf);
      s += ",\"r_frame_rate\":" + rate(st->r_frame_rate) + ",\"avg_frame_rate\":" + rate(st->avg_frame_rate);
      size_t size = 0;
      const uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
      if (m && size >= 9 * sizeof(int32_t)) {
        double rot = av_display_rotation_get(reinterpret_cast<const int32_t*>(m));
        if (std::isfinite(rot)) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%d", static_cast<int>(rot));
          s += std::string(",\"side_data_list\":[{\"rotation\":") + buf + "}]";
        }
      }
    } else if (p->codec_type == AVMEDIA_TYPE_AUDIO) {
      s += ",\"sample_rate\":\"" + std::to_string(p->sample_rate) + "\"";
      s += ",\"channels\":" + std::to_string(p->ch_layout.nb_channels);
      const char* sf = av_get_sample_fmt_name(static_cast<AVSampleFormat>(p->format));
      if (sf) s += ",\"sample_fmt\":" + quote(sf);
      if (p->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC) {
        char buf[128];
        if (av_channel_layout_describe(&p->ch_layout, buf, sizeof buf) > 0) s += ",\"channel_layout\":" + quote(buf);
      }
    }
    s += "}";
  }
  s += "],\"format\":{\"format_name\":" + quote(f->iformat->name);
  if (f->duration != AV_NOPTS_VALUE) s += ",\"duration\":" + seconds(f->duration, AV_TIME_BASE_Q);
  if (f->start_time != AV_NOPTS_VALUE) s += ",\"start_time\":" + seconds(f->start_time, AV_TIME_BASE_Q);
  if (f->bit_rate > 0) s += ",\"bit_rate\":\"" + std::to_string(f->bit_rate) + "\"";
  if (f->pb) {
    int64_t size = avio_size(f->pb);
    if (size >= 0) s += ",\"size\":\"" + std::to_string(size) + "\"";
  }
  return s + "}}";
}

}  // namespace smae::media
#endif
