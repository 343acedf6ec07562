// An audio stream in-process (see audio.h): decode, then the same conversion graph the ffmpeg command line
// builds for `-c:a pcm_f32le|pcm_s16le [-ar R] [-ac C]` (an aformat with the encoder's sample format and
// the asked rate/layout, converters inserted by libavfilter with the same swr options), then planar float32.
#ifdef SMAE_WITH_LIBAV
#include "audio.h"

#include <cmath>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
}

#include "graph.h"
#include "libav.h"

namespace smae::media {

namespace {
std::string layoutOf(const AVFrame* fr, const AVCodecContext* dec) {
  AVChannelLayout l{};
  if (fr->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC) av_channel_layout_copy(&l, &fr->ch_layout);
  else av_channel_layout_default(&l, fr->ch_layout.nb_channels ? fr->ch_layout.nb_channels : dec->ch_layout.nb_channels);  // ffmpeg guesses the same
  char buf[128] = {0};
  av_channel_layout_describe(&l, buf, sizeof buf);
  av_channel_layout_uninit(&l);
  return buf;
}
}  // namespace

AudioResult decodeAudio(const AudioRequest& req) {
  beginLogCapture();
  auto in = openInput(req.path, req.timeoutMs);
  AVFormatContext* f = in->fmt.get();
  int index = -1;
  for (unsigned i = 0, k = 0; i < f->nb_streams && index < 0; i++)
    if (f->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO && static_cast<int>(k++) == req.ordinal) index = static_cast<int>(i);
  if (index < 0) throw JsError("ERR_NO_AUDIO", "no audio stream #" + std::to_string(req.ordinal));
  AVStream* st = f->streams[index];
  for (unsigned i = 0; i < f->nb_streams; i++)
    if (static_cast<int>(i) != index) f->streams[i]->discard = AVDISCARD_ALL;
  CodecPtr dec = openDecoder(st);
  PacketPtr pkt = newPacket();
  FramePtr frame = newFrame();
  FramePtr out = newFrame();
  Graph g;
  AudioResult res;
  std::vector<std::vector<float>> planes;
  int64_t limit = req.maxSamples;  // per channel; fixed once the output rate is known
  std::string chain = std::string("aformat=sample_fmts=") + (req.s16 ? "s16" : "flt");
  if (req.sampleRate > 0) chain += ":sample_rates=" + std::to_string(req.sampleRate);
  if (req.channels > 0) {
    AVChannelLayout l{};
    av_channel_layout_default(&l, req.channels);
    char buf[128] = {0};
    av_channel_layout_describe(&l, buf, sizeof buf);
    chain += std::string(":channel_layouts=") + buf;
  }
  const std::string swr = req.channels > 0 ? "rematrix_maxval=1.0" : "";
  auto full = [&]() { return limit >= 0 && res.samples >= limit; };
  auto pull = [&]() {
    int r;
    while (!full() && (r = av_buffersink_get_frame(g.sink, out.get())) >= 0) {
      if (res.channels == 0) {
        res.channels = out->ch_layout.nb_channels;
        res.sampleRate = out->sample_rate;
        planes.resize(res.channels);
        if (limit < 0 && req.maxSeconds >= 0) limit = static_cast<int64_t>(std::ceil(req.maxSeconds * res.sampleRate));
      }
      const int c = res.channels;
      const int64_t n = out->nb_samples;
      for (int ch = 0; ch < c; ch++) {
        std::vector<float>& p = planes[ch];
        if (req.s16) {
          const int16_t* s = reinterpret_cast<const int16_t*>(out->data[0]);
          for (int64_t i = 0; i < n; i++) p.push_back(s[i * c + ch] / 32768.0f);
        } else {
          const float* s = reinterpret_cast<const float*>(out->data[0]);
          for (int64_t i = 0; i < n; i++) p.push_back(s[i * c + ch]);
        }
      }
      res.samples += n;
      av_frame_unref(out.get());
    }
  };
  auto feed = [&](AVFrame* fr) {
    if (!g.graph) {
      std::string src = "time_base=1/" + std::to_string(fr->sample_rate) + ":sample_rate=" + std::to_string(fr->sample_rate) +
                        ":sample_fmt=" + av_get_sample_fmt_name(static_cast<AVSampleFormat>(fr->format)) + ":channel_layout=" + layoutOf(fr, dec.get());
      g = makeGraph(src, chain, true, "", swr);
    }
    int r = av_buffersrc_add_frame_flags(g.src, fr, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (r < 0) fail("filtering audio", r);
    pull();
  };
  bool eof = false;
  while (!full() && !eof) {
    int r = av_read_frame(f, pkt.get());
    if (in->timedOut) throw JsError("ERR_MEDIA", "timeout: decoding did not finish within " + std::to_string(req.timeoutMs) + " ms");
    if (r < 0) {
      eof = true;
      avcodec_send_packet(dec.get(), nullptr);
    } else {
      if (pkt->stream_index == index) avcodec_send_packet(dec.get(), pkt.get());
      av_packet_unref(pkt.get());
    }
    while (!full() && avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
      feed(frame.get());
      av_frame_unref(frame.get());
    }
  }
  if (eof && g.graph && !full()) {  // flush the converters (a resampler holds samples back)
    av_buffersrc_add_frame_flags(g.src, nullptr, 0);
    pull();
  }
  if (limit >= 0 && res.samples > limit) res.samples = limit;
  res.data.resize(static_cast<size_t>(res.channels) * res.samples);
  for (int ch = 0; ch < res.channels; ch++) std::copy(planes[ch].begin(), planes[ch].begin() + res.samples, res.data.begin() + ch * res.samples);
  return res;
}

}  // namespace smae::media
#endif
