// Selected video frames in-process (see video.h). What the ffmpeg command line does, step by step:
// seek (avformat_seek_file to the keyframe before -ss, 3/23 s earlier for streams with a decode delay),
// shift timestamps so -ss is 0 and drop decoded frames before it (its accurate-seek trim), count the rest
// (select's n, -fps_mode passthrough), and convert only the kept ones through the same filter text.
#ifdef SMAE_WITH_LIBAV
#include "video.h"

#include <cmath>
#include <cstring>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include "graph.h"
#include "libav.h"

namespace smae::media {

namespace {
void seekLikeFfmpeg(AVFormatContext* f, int64_t timestamp) {
  int64_t seekTs = timestamp;
  if (!(f->iformat->flags & AVFMT_SEEK_TO_PTS)) {
    for (unsigned i = 0; i < f->nb_streams; i++) {
      if (f->streams[i]->codecpar->video_delay) {
        seekTs -= 3 * AV_TIME_BASE / 23;
        break;
      }
    }
  }
  avformat_seek_file(f, -1, INT64_MIN, seekTs, seekTs, 0);  // ffmpeg only warns when this fails
}

/** The filters ffmpeg's autorotation puts first (fftools/ffmpeg_filter.c, FFmpeg 5.1), from the display matrix. */
std::string autorotate(const AVStream* st) {
  size_t size = 0;
  const int32_t* m = reinterpret_cast<const int32_t*>(av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size));
  if (!m || size < 9 * sizeof(int32_t)) return "";
  double theta = -std::round(av_display_rotation_get(m));
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  if (std::fabs(theta - 90) < 1.0) return m[3] > 0 ? "transpose=cclock_flip" : "transpose=clock";
  if (std::fabs(theta - 180) < 1.0) {
    std::string f;
    if (m[0] < 0) f = "hflip";
    if (m[4] < 0) f += f.empty() ? "vflip" : ",vflip";
    return f;
  }
  if (std::fabs(theta - 270) < 1.0) return m[3] < 0 ? "transpose=clock_flip" : "transpose=cclock";
  if (std::fabs(theta) > 1.0) return "rotate=" + std::to_string(theta) + "*PI/180";
  if (m[4] < 0) return "vflip";
  return "";
}

std::string bufferArgs(const AVFrame* fr, AVRational tb) {
  AVRational sar = fr->sample_aspect_ratio.num ? fr->sample_aspect_ratio : AVRational{0, 1};
  return "video_size=" + std::to_string(fr->width) + "x" + std::to_string(fr->height) +
         ":pix_fmt=" + std::string(av_get_pix_fmt_name(static_cast<AVPixelFormat>(fr->format))) + ":time_base=" + std::to_string(tb.num) + "/" + std::to_string(tb.den) +
         ":pixel_aspect=" + std::to_string(sar.num) + "/" + std::to_string(std::max(1, sar.den));
}
}  // namespace

VideoResult decodeVideo(const VideoRequest& req) {
  beginLogCapture();
  auto in = openInput(req.path, req.timeoutMs);
  AVFormatContext* f = in->fmt.get();
  if (req.stream < 0 || req.stream >= static_cast<int>(f->nb_streams) || f->streams[req.stream]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
    throw JsError("ERR_NO_VIDEO", "no video stream " + std::to_string(req.stream));
  AVStream* st = f->streams[req.stream];
  int64_t offset = 0;  // added to every timestamp: -ss becomes 0
  if (req.startUs >= 0) {
    int64_t timestamp = req.startUs + (f->start_time != AV_NOPTS_VALUE ? f->start_time : 0);
    seekLikeFfmpeg(f, timestamp);
    offset = av_rescale_q(-timestamp, AV_TIME_BASE_Q, st->time_base);
  }
  for (unsigned i = 0; i < f->nb_streams; i++)
    if (static_cast<int>(i) != req.stream) f->streams[i]->discard = AVDISCARD_ALL;
  CodecPtr dec = openDecoder(st);
  PacketPtr pkt = newPacket();
  FramePtr frame = newFrame();
  FramePtr out = newFrame();
  Graph g;
  VideoResult res;
  std::string chain = autorotate(st);
  if (!req.filters.empty()) chain += (chain.empty() ? "" : ",") + req.filters;
  chain += (chain.empty() ? "" : ",") + std::string("format=pix_fmts=") + req.pixelFormat;
  size_t next = 0;  // position in req.indices
  int64_t n = 0;    // frames counted after the seek point
  bool eof = false;
  auto take = [&](AVFrame* fr) {
    if (req.startUs >= 0) {
      int64_t pts = fr->best_effort_timestamp;
      if (pts != AV_NOPTS_VALUE && pts < 0) return;  // before -ss (packets are shifted): trimmed, not counted
    }
    if (n++ != req.indices[next]) return;
    next++;
    if (!g.graph) g = makeGraph(bufferArgs(fr, st->time_base), chain, false, "flags=bicubic", "");
    int r = av_buffersrc_add_frame_flags(g.src, fr, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (r < 0) fail("filtering a frame", r);
    while ((r = av_buffersink_get_frame(g.sink, out.get())) >= 0) {
      int w = out->width, h = out->height;
      if (res.frames.empty()) res.width = w, res.height = h;
      if (w != res.width || h != res.height) fail("frame size changed inside the stream");
      std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
      for (int y = 0; y < h; y++) std::memcpy(px.data() + static_cast<size_t>(y) * w * 3, out->data[0] + static_cast<ptrdiff_t>(y) * out->linesize[0], static_cast<size_t>(w) * 3);
      res.frames.push_back(std::move(px));
      av_frame_unref(out.get());
    }
    if (r != AVERROR(EAGAIN) && r != AVERROR_EOF) fail("filtering a frame", r);
  };
  auto drain = [&]() {
    int r;
    while (next < req.indices.size() && (r = avcodec_receive_frame(dec.get(), frame.get())) >= 0) {
      take(frame.get());
      av_frame_unref(frame.get());
    }
  };
  while (next < req.indices.size() && !eof) {
    int r = av_read_frame(f, pkt.get());
    if (in->timedOut) throw JsError("ERR_MEDIA", "timeout: decoding did not finish within " + std::to_string(req.timeoutMs) + " ms");
    if (r < 0) {
      eof = true;  // end of file or a read error: ffmpeg ends the stream there too
      avcodec_send_packet(dec.get(), nullptr);
    } else {
      if (pkt->stream_index == req.stream) {
        if (offset) {
          if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += offset;
          if (pkt->dts != AV_NOPTS_VALUE) pkt->dts += offset;
        }
        avcodec_send_packet(dec.get(), pkt.get());  // a broken packet is skipped, as ffmpeg does
      }
      av_packet_unref(pkt.get());
    }
    drain();
  }
  res.counted = n;
  return res;
}

}  // namespace smae::media
#endif
