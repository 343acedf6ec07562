// Selected video frames in-process (see video.h). What the ffmpeg command line does, step by step:
// seek (avformat_seek_file to the keyframe before -ss, 3/23 s earlier for streams with a decode delay),
// shift timestamps so -ss is 0 and drop decoded frames before it (its accurate-seek trim), count the rest
// (select's n, -fps_mode passthrough), and convert only the kept ones through the same filter text.
// H.264 is first tried with the non-reference pictures that are not kept left undecoded (video_skip.cc).
#ifdef SMAE_WITH_LIBAV
#include "video.h"

#include <algorithm>
#include <chrono>
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
#include "video_parts.h"

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

OpenedVideo openVideo(const VideoRequest& req) {
  OpenedVideo v;
  v.in = openInput(req.path, req.timeoutMs);
  AVFormatContext* f = v.in->fmt.get();
  if (req.stream < 0 || req.stream >= static_cast<int>(f->nb_streams) || f->streams[req.stream]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
    throw JsError("ERR_NO_VIDEO", "no video stream " + std::to_string(req.stream));
  v.st = f->streams[req.stream];
  if (req.startUs >= 0) {
    int64_t timestamp = req.startUs + (f->start_time != AV_NOPTS_VALUE ? f->start_time : 0);
    seekLikeFfmpeg(f, timestamp);
    v.offset = av_rescale_q(-timestamp, AV_TIME_BASE_Q, v.st->time_base);
  }
  for (unsigned i = 0; i < f->nb_streams; i++)
    if (static_cast<int>(i) != req.stream) f->streams[i]->discard = AVDISCARD_ALL;
  v.dec = openDecoder(v.st);
  return v;
}

void checkTimeout(const Input& in, int64_t timeoutMs) {
  if (in.timedOut) throw JsError("ERR_MEDIA", "timeout: decoding did not finish within " + std::to_string(timeoutMs) + " ms");
}

FrameConverter::FrameConverter(const VideoRequest& req, const AVStream* st) : chain_(autorotate(st)), timeBase_(st->time_base), out_(newFrame()) {
  if (!req.filters.empty()) chain_ += (chain_.empty() ? "" : ",") + req.filters;
  chain_ += (chain_.empty() ? "" : ",") + std::string("format=pix_fmts=") + req.pixelFormat;
}

void FrameConverter::add(AVFrame* fr, VideoResult& res) {
  if (!g_.graph) g_ = makeGraph(bufferArgs(fr, timeBase_), chain_, false, "flags=bicubic", "");
  int r = av_buffersrc_add_frame_flags(g_.src, fr, AV_BUFFERSRC_FLAG_KEEP_REF);
  if (r < 0) fail("filtering a frame", r);
  AVFrame* out = out_.get();
  while ((r = av_buffersink_get_frame(g_.sink, out)) >= 0) {
    int w = out->width, h = out->height;
    if (res.frames.empty()) res.width = w, res.height = h;
    if (w != res.width || h != res.height) fail("frame size changed inside the stream");
    std::vector<uint8_t> px;  // filled row by row, not zero-filled first
    px.reserve(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; y++) {
      const uint8_t* row = out->data[0] + static_cast<ptrdiff_t>(y) * out->linesize[0];
      px.insert(px.end(), row, row + static_cast<size_t>(w) * 3);
    }
    res.frames.push_back(std::move(px));
    av_frame_unref(out);
  }
  if (r != AVERROR(EAGAIN) && r != AVERROR_EOF) fail("filtering a frame", r);
}

namespace {
/** Every picture from the seek point decoded, counted in output order (select's n) and the kept ones converted. */
VideoResult decodeEveryPicture(const VideoRequest& req, OpenedVideo& v) {
  AVFormatContext* f = v.in->fmt.get();
  AVCodecContext* dec = v.dec.get();
  PacketPtr pkt = newPacket();
  FramePtr frame = newFrame();
  FrameConverter conv(req, v.st);
  VideoResult res;
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
    conv.add(fr, res);
  };
  auto drain = [&]() {
    while (next < req.indices.size() && avcodec_receive_frame(dec, frame.get()) >= 0) {
      take(frame.get());
      av_frame_unref(frame.get());
    }
  };
  while (next < req.indices.size() && !eof) {
    int r = av_read_frame(f, pkt.get());
    checkTimeout(*v.in, req.timeoutMs);
    if (r < 0) {
      eof = true;  // end of file or a read error: ffmpeg ends the stream there too
      avcodec_send_packet(dec, nullptr);
    } else {
      if (pkt->stream_index == req.stream) {
        if (v.offset) {
          if (pkt->pts != AV_NOPTS_VALUE) pkt->pts += v.offset;
          if (pkt->dts != AV_NOPTS_VALUE) pkt->dts += v.offset;
        }
        avcodec_send_packet(dec, pkt.get());  // a broken packet is skipped, as ffmpeg does
        res.pictures++;
      }
      av_packet_unref(pkt.get());
    }
    drain();
  }
  res.counted = n;
  return res;
}
}  // namespace

VideoResult decodeVideo(const VideoRequest& req) {
  auto started = std::chrono::steady_clock::now();
  beginLogCapture();
  OpenedVideo v = openVideo(req);
  if (!skippingApplies(req, v)) return decodeEveryPicture(req, v);
  if (auto res = decodeSkipping(req, v)) return std::move(*res);
  beginLogCapture();  // the messages of the abandoned try are not this decode's
  VideoRequest rest = req;  // the redo gets what is left of the call's time
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  rest.timeoutMs = std::max<int64_t>(1, req.timeoutMs - spent);
  v = openVideo(rest);
  VideoResult res = decodeEveryPicture(req, v);
  res.redone = true;
  return res;
}

}  // namespace smae::media
#endif
