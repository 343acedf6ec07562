// Selected H.264 frames without decoding the non-reference pictures that are not kept (see video_parts.h).
//
// Decoding every picture (video.cc) counts the frames the decoder outputs after the -ss trim; a kept frame
// is the n-th. When every packet holds one picture, carries its presentation time and the decoder outputs
// every picture once in that order, n = the packet's rank: how many packets after the trim have an earlier
// pts. Packets are read 16 ahead so a rank is final before its packet is sent; a packet whose slices are all
// non-reference (nal_ref_idc 0) and whose rank is not kept is sent with skip_frame = AVDISCARD_NONREF:
// h264dec.c then drops its non-reference NAL units but SEI, and since no other picture is predicted from it
// or changes its reference state (frame_num and POC follow reference pictures), the kept pictures decode to
// the same bytes. Everything the assumptions rest on is checked, and any failure returns std::nullopt (the
// caller decodes every picture):
//   - packets: every one has a pts, no two the same, none marked discard/corrupt; the first is a keyframe and
//     leading pictures (pts before it) are never skipped; no packet read later has a pts below one whose
//     rank was used;
//   - decoder output: every decoded picture comes out exactly once, as the next pts in order, and nothing
//     else; libav logs no error;
//   - skipped pictures (not observable): the packets' pts order is one the decoder's reorder delay at open
//     (has_b_frames, checked not to drop while decoding) outputs without dropping a picture (h264dec.c drops a picture
//     that comes out behind one already output).
#ifdef SMAE_WITH_LIBAV
#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <vector>

#include "libav.h"
#include "video_parts.h"

namespace smae::media {

namespace {
constexpr size_t kReadAhead = 16;

/** Bytes of the NAL unit length prefix (avcC lengthSizeMinusOne + 1), 0 for Annex B start codes, -1 unknown. */
int nalLengthSize(const AVCodecParameters* par) {
  const uint8_t* x = par->extradata;
  int n = par->extradata_size;
  if (!x || n == 0) return 0;  // parameter sets in-band: Annex B (h264dec.c decides the same way)
  if (n >= 4 && x[0] == 0 && x[1] == 0 && (x[2] == 1 || (x[2] == 0 && x[3] == 1))) return 0;
  if (n >= 7 && x[0] == 1) return (x[4] & 3) + 1;
  return -1;
}

/**
 * Whether skip_frame = AVDISCARD_NONREF drops exactly this packet's picture: it holds a slice, every slice
 * is a non-IDR non-reference one, and every other NAL unit the decoder would drop (nal_ref_idc 0, not SEI)
 * is one it ignores anyway (access unit delimiter, filler). Anything unparsable: false (decoded).
 */
bool nonReferencePicture(const uint8_t* d, size_t size, int lengthSize) {
  bool slice = false;
  auto unit = [&](uint8_t header) {
    if (header & 0x80) return false;  // forbidden_zero_bit
    int ref = (header >> 5) & 3, type = header & 31;
    if (type >= 1 && type <= 5) {
      if (ref != 0 || type != 1) return false;
      slice = true;
      return true;
    }
    return ref != 0 || type == 6 || type == 9 || type == 12;
  };
  if (lengthSize > 0) {
    size_t i = 0, ls = static_cast<size_t>(lengthSize);
    while (i < size) {
      if (size - i < ls) return false;
      size_t len = 0;
      for (size_t k = 0; k < ls; k++) len = len << 8 | d[i + k];
      i += ls;
      if (len == 0 || len > size - i || !unit(d[i])) return false;
      i += len;
    }
  } else {
    for (size_t i = 0; i + 3 < size; i++) {
      if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
        if (!unit(d[i + 3])) return false;
        i += 2;
      }
    }
  }
  return slice;
}

struct Ahead {
  PacketPtr pkt;
  bool nonReference;
};
}  // namespace

bool skippingApplies(const VideoRequest& req, const OpenedVideo& v) {
  return v.st->codecpar->codec_id == AV_CODEC_ID_H264 && nalLengthSize(v.st->codecpar) >= 0 && !req.indices.empty() && req.indices[0] != (int64_t{1} << 53) - 1;
}

std::optional<VideoResult> decodeSkipping(const VideoRequest& req, OpenedVideo& v) {
  AVFormatContext* f = v.in->fmt.get();
  AVCodecContext* dec = v.dec.get();
  const int lengthSize = nalLengthSize(v.st->codecpar);
  const bool trim = req.startUs >= 0;
  const size_t delay = static_cast<size_t>(std::max(0, dec->has_b_frames));
  const uint64_t messages = capturedCount();
  FramePtr frame = newFrame();
  FrameConverter conv(req, v.st);
  VideoResult res;
  size_t next = 0;                           // position in req.indices
  std::deque<Ahead> ahead;                   // read, not yet sent (decode order)
  std::vector<int64_t> seen;                 // pts of every packet read, sorted
  int64_t firstPts = 0, finalPts = INT64_MIN;  // the keyframe's pts; the largest pts whose rank was used
  std::map<int64_t, int64_t> pending;        // decoded, not yet output: pts -> rank (-1: trimmed)
  int64_t lastOut = INT64_MIN;
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> reorder;  // the decoder's output, modelled
  int64_t reorderOut = INT64_MIN;
  bool eof = false, flushed = false;

  auto rankOf = [&](int64_t pts) -> int64_t {
    if (trim && pts < 0) return -1;
    auto from = trim ? std::lower_bound(seen.begin(), seen.end(), 0) : seen.begin();
    return std::lower_bound(from, seen.end(), pts) - from;
  };
  // Receives what the decoder outputs; false when it is not the next pending picture.
  auto drain = [&]() {
    int r = 0;
    while (next < req.indices.size() && (r = avcodec_receive_frame(dec, frame.get())) >= 0) {
      int64_t pts = frame->best_effort_timestamp;
      if (pending.empty() || pts != pending.begin()->first) return false;
      int64_t rank = pending.begin()->second;
      pending.erase(pending.begin());
      lastOut = pts;
      if (rank >= 0 && rank == req.indices[next]) {
        conv.add(frame.get(), res);
        next++;
      } else if (rank > req.indices[next]) {
        return false;  // a kept picture did not come out
      }
      av_frame_unref(frame.get());
    }
    return next == req.indices.size() || r == AVERROR(EAGAIN) || r == AVERROR_EOF;
  };
  // Reads up to kReadAhead packets ahead; false when a packet breaks an assumption.
  auto readAhead = [&]() {
    while (!eof && ahead.size() < kReadAhead) {
      PacketPtr p = newPacket();
      int r = av_read_frame(f, p.get());
      checkTimeout(*v.in, req.timeoutMs);
      if (r < 0) {
        eof = true;
        break;
      }
      if (p->stream_index != req.stream) continue;
      if (p->pts == AV_NOPTS_VALUE || (p->flags & (AV_PKT_FLAG_DISCARD | AV_PKT_FLAG_CORRUPT))) return false;
      p->pts += v.offset;
      if (p->dts != AV_NOPTS_VALUE) p->dts += v.offset;
      if (seen.empty()) {
        if (!(p->flags & AV_PKT_FLAG_KEY)) return false;
        firstPts = p->pts;
      }
      if (p->pts <= finalPts) return false;
      auto at = std::lower_bound(seen.begin(), seen.end(), p->pts);
      if (at != seen.end() && *at == p->pts) return false;
      seen.insert(at, p->pts);
      // h264dec.c drops a picture that would come out behind one already output; once buffered, a
      // picture comes out before anything larger, so the arrival is the only point to check.
      if (p->pts < reorderOut) return false;
      reorder.push(p->pts);
      if (reorder.size() > delay) {
        reorderOut = reorder.top();
        reorder.pop();
      }
      bool nonRef = nonReferencePicture(p->data, static_cast<size_t>(p->size), lengthSize);
      ahead.push_back({std::move(p), nonRef});
    }
    return true;
  };

  while (next < req.indices.size()) {
    if (!readAhead()) return std::nullopt;
    if (ahead.empty()) {
      if (flushed) break;
      dec->skip_frame = AVDISCARD_DEFAULT;
      avcodec_send_packet(dec, nullptr);
      flushed = true;
      if (!drain()) return std::nullopt;
      continue;
    }
    Ahead a = std::move(ahead.front());
    ahead.pop_front();
    int64_t pts = a.pkt->pts, rank = rankOf(pts);
    finalPts = std::max(finalPts, pts);
    bool kept = rank >= 0 && std::binary_search(req.indices.begin() + static_cast<ptrdiff_t>(next), req.indices.end(), rank);
    bool skip = a.nonReference && !kept && pts > firstPts;
    if (!skip) {
      if (pts <= lastOut) return std::nullopt;
      pending.emplace(pts, rank);
    }
    // One packet is decoded inside avcodec_send_packet (one thread, and drain() left no frame waiting).
    dec->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    if (avcodec_send_packet(dec, a.pkt.get()) < 0) return std::nullopt;
    if (static_cast<size_t>(dec->has_b_frames) < delay) return std::nullopt;  // the model's delay must hold
    res.skipped += skip;
    if (!drain()) return std::nullopt;
  }
  if (capturedCount() != messages) return std::nullopt;
  if (next < req.indices.size()) {  // the stream ended first: every decoded picture must have come out
    if (!pending.empty()) return std::nullopt;
    res.counted = rankOf(INT64_MAX);
  } else {
    res.counted = req.indices.back() + 1;
  }
  return res;
}

}  // namespace smae::media
#endif
