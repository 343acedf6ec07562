// Selected H.264 frames without decoding the non-reference pictures that are not kept (see video_parts.h).
//
// Decoding every picture (video.cc) counts the frames the decoder outputs after the -ss trim; a kept frame
// is the n-th. When every packet holds one picture, carries its presentation time and the decoder outputs
// every picture once in that order, n = the packet's rank: how many packets after the trim have an earlier
// pts. Packets are read 16 ahead so a rank is final before its packet is sent; a packet whose slices are all
// non-reference (nal_ref_idc 0) and whose rank is not kept is sent with skip_frame = AVDISCARD_NONREF:
// h264dec.c then drops its non-reference NAL units but SEI, and since no other picture is predicted from it
// or changes its reference state (frame_num and POC follow reference pictures), the kept pictures decode to
// the same bytes. Once every kept picture's packet is sent, the decoder is flushed instead of fed the
// pictures after it (1 fewer decoded per call on the small bench clips, 2.5 on the 720p ones). Everything
// the assumptions rest on is checked, and any failure returns std::nullopt (the caller decodes every
// picture):
//   - packets: every one has a pts, no two the same, none marked corrupt (one marked discard is decoded when
//     it is a reference, never comes out and is not counted, as decode.c does), each holds exactly one
//     picture (one slice at macroblock 0; every SPS has frame_mbs_only_flag, so no field pictures); the first
//     is a keyframe and leading pictures (pts before it) are never skipped; no packet read later has a pts
//     below one whose rank was used;
//   - decoder output: every decoded picture comes out exactly once, as the next pts in order, and nothing
//     else; libav logs no error;
//   - display order: every SPS uses POC type 0, and within each IDR period the packets' pts order is the
//     order of the pictures' POCs (parsed from the slice headers), which is the decoder's output order;
//   - skipped pictures (not observable): the pts order of all packets is one that the decoder's reorder
//     delay (has_b_frames at open, checked never to fall below it) outputs without dropping a picture
//     (h264dec.c drops a picture that would come out behind one already output).
// Not checked: a skipped picture whose slice header is corrupt past its POC (decoding every picture,
// h264dec.c would reject it and output nothing, shifting the count after it; skipped, it is counted), and
// POC resets by memory management operation 5 (which x264 does not write).
#ifdef SMAE_WITH_LIBAV
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
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

/** Calls fn(nal, bytes) for each NAL unit (header byte first); false on broken framing or when fn says false. */
template <typename Fn>
bool forEachNal(const uint8_t* d, size_t size, int lengthSize, Fn fn) {
  if (lengthSize > 0) {
    size_t i = 0, ls = static_cast<size_t>(lengthSize);
    while (i < size) {
      if (size - i < ls) return false;
      size_t len = 0;
      for (size_t k = 0; k < ls; k++) len = len << 8 | d[i + k];
      i += ls;
      if (len == 0 || len > size - i || !fn(d + i, len)) return false;
      i += len;
    }
    return true;
  }
  size_t at = SIZE_MAX;  // start of the current unit
  for (size_t i = 0; i + 3 <= size; i++) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      if (at != SIZE_MAX && !fn(d + at, i - at)) return false;
      at = i + 3;
      i += 2;
    }
  }
  return at == SIZE_MAX || at >= size || fn(d + at, size - at);
}

/** Exp-Golomb reader over a NAL unit's payload (emulation prevention bytes removed); reads past the end fail. */
class Bits {
 public:
  Bits(const uint8_t* d, size_t n) {
    bytes_.reserve(n);
    int zeros = 0;
    for (size_t i = 0; i < n; i++) {
      if (zeros >= 2 && d[i] == 3) {
        zeros = 0;
        continue;
      }
      bytes_.push_back(d[i]);
      zeros = d[i] == 0 ? zeros + 1 : 0;
    }
  }
  bool failed() const { return failed_; }
  uint32_t bit() {
    if (pos_ >= bytes_.size() * 8) return failed_ = true, 0;
    uint32_t b = (bytes_[pos_ / 8] >> (7 - pos_ % 8)) & 1;
    pos_++;
    return b;
  }
  uint32_t bits(int n) {
    uint32_t v = 0;
    while (n-- > 0) v = v << 1 | bit();
    return v;
  }
  uint32_t ue() {
    int zeros = 0;
    while (!failed_ && bit() == 0)
      if (++zeros > 31) return failed_ = true, 0;
    return static_cast<uint32_t>((uint64_t{1} << zeros) - 1 + bits(zeros));
  }
  int32_t se() {
    uint32_t v = ue();
    return v & 1 ? static_cast<int32_t>((v + 1) / 2) : -static_cast<int32_t>(v / 2);
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

/**
 * The parameter sets and picture order counts of an H.264 stream, as far as the skipping checks them: every
 * SPS must rule out field pictures (frame_mbs_only_flag: one packet holds one frame) and use POC type 0;
 * each picture's POC (8.2.1.1, from pic_order_cnt_lsb) is computed so its order can be compared with the
 * packets' pts. Memory management operation 5 (a POC reset without an IDR) is not parsed.
 */
class H264Headers {
 public:
  /** What the skipping needs to know about one packet; ok = false: it breaks an assumption. */
  struct Facts {
    bool ok = false;
    bool nonReference = false;  // skip_frame = AVDISCARD_NONREF drops exactly its picture
    bool idr = false;
    int64_t poc = 0;
  };

  /** Reads the parameter sets of the extradata (avcC or Annex B); false when one breaks an assumption. */
  bool addExtradata(const AVCodecParameters* par, int lengthSize) {
    const uint8_t* x = par->extradata;
    size_t n = static_cast<size_t>(std::max(0, par->extradata_size));
    if (n == 0) return true;  // parameter sets in-band: read with their packets
    auto unit = [this](const uint8_t* nal, size_t len) { return parameterSet(nal, len); };
    if (lengthSize == 0) return forEachNal(x, n, 0, unit);
    size_t at = 5;
    for (int list = 0; list < 2; list++) {  // SPS count in 5 bits, then PPS count in 8
      if (at >= n) return false;
      size_t count = list == 0 ? x[at] & 31 : x[at];
      at++;
      for (size_t i = 0; i < count; i++) {
        if (at + 2 > n) return false;
        size_t len = static_cast<size_t>(x[at]) << 8 | x[at + 1];
        if (len == 0 || at + 2 + len > n || !unit(x + at + 2, len)) return false;
        at += 2 + len;
      }
    }
    return true;
  }

  /**
   * One packet in decode order: its parameter sets are read, it must hold exactly one picture (one slice at
   * macroblock 0) whose POC is computed. nonReference: every slice is a non-IDR non-reference one and every
   * other NAL unit the decoder then drops (nal_ref_idc 0, not SEI) is one it ignores anyway (access unit
   * delimiter, filler).
   */
  Facts scan(const uint8_t* d, size_t size, int lengthSize) {
    Facts facts;
    int starts = 0;
    bool nonRef = true, ref = false;
    int32_t lsb = 0, bottom = 0;
    const Sps* sps = nullptr;
    bool framing = forEachNal(d, size, lengthSize, [&](const uint8_t* nal, size_t len) {
      if (nal[0] & 0x80) return false;  // forbidden_zero_bit
      int refIdc = (nal[0] >> 5) & 3, type = nal[0] & 31;
      if (type >= 1 && type <= 5) {
        if (refIdc != 0 || type != 1) nonRef = false;
        if (len < 2) return false;
        if (!(nal[1] & 0x80)) return true;  // first_mb_in_slice > 0: a later slice of the picture
        if (++starts > 1) return false;
        facts.idr = type == 5;
        ref = refIdc != 0;
        return sliceOrder(nal, len, &sps, &lsb, &bottom);
      }
      if (type == 7 || type == 8) return parameterSet(nal, len);
      if (refIdc == 0 && type != 6 && type != 9 && type != 12) nonRef = false;
      return true;
    });
    if (!framing || starts != 1) return facts;
    if (facts.idr) prevMsb_ = prevLsb_ = 0;
    int32_t maxLsb = int32_t{1} << sps->log2MaxPocLsb, msb = prevMsb_;
    if (lsb < prevLsb_ && prevLsb_ - lsb >= maxLsb / 2) msb = prevMsb_ + maxLsb;
    else if (lsb > prevLsb_ && lsb - prevLsb_ > maxLsb / 2) msb = prevMsb_ - maxLsb;
    if (ref) prevMsb_ = msb, prevLsb_ = lsb;
    int64_t top = int64_t{msb} + lsb;
    facts.poc = std::min(top, top + bottom);  // a frame's POC: the smaller of its fields'
    facts.ok = true;
    facts.nonReference = nonRef;
    return facts;
  }

 private:
  struct Sps {
    bool separateColourPlane = false;
    int log2MaxFrameNum = 0, log2MaxPocLsb = 0;
  };
  struct Pps {
    int sps = 0;
    bool bottomFieldPocPresent = false;
  };

  bool parameterSet(const uint8_t* nal, size_t len) {
    int type = nal[0] & 31;
    if (type == 7) return readSps(nal, len);
    if (type == 8) return readPps(nal, len);
    return true;
  }

  /** Keeps an SPS; false when unparsable, allowing field pictures or not POC type 0. */
  bool readSps(const uint8_t* nal, size_t n) {
    if (n < 2) return false;
    Bits b(nal + 1, n - 1);
    Sps s;
    uint32_t profile = b.bits(8);
    b.bits(16);  // constraint flags, level
    uint32_t id = b.ue();
    static const uint32_t kHigh[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    if (std::find(std::begin(kHigh), std::end(kHigh), profile) != std::end(kHigh)) {
      uint32_t chroma = b.ue();
      if (chroma == 3) s.separateColourPlane = b.bit();
      b.ue();  // bit depths
      b.ue();
      b.bit();      // qpprime_y_zero_transform_bypass_flag
      if (b.bit()) {  // seq_scaling_matrix_present_flag
        for (int i = 0; i < (chroma != 3 ? 8 : 12) && !b.failed(); i++) {
          if (!b.bit()) continue;
          int last = 8, next = 8;
          for (int j = 0; j < (i < 6 ? 16 : 64) && next != 0 && !b.failed(); j++) {
            next = (last + b.se() + 256) % 256;
            if (next != 0) last = next;
          }
        }
      }
    }
    s.log2MaxFrameNum = static_cast<int>(b.ue()) + 4;
    uint32_t pocType = b.ue();
    if (pocType != 0) return false;
    s.log2MaxPocLsb = static_cast<int>(b.ue()) + 4;
    b.ue();   // max_num_ref_frames
    b.bit();  // gaps_in_frame_num_value_allowed_flag
    b.ue();   // size in macroblocks
    b.ue();
    uint32_t framesOnly = b.bit();
    if (b.failed() || framesOnly != 1 || id > 31 || s.log2MaxFrameNum > 16 || s.log2MaxPocLsb > 16) return false;
    sps_[id] = s;
    return true;
  }

  bool readPps(const uint8_t* nal, size_t n) {
    if (n < 2) return false;
    Bits b(nal + 1, n - 1);
    Pps p;
    uint32_t id = b.ue();
    p.sps = static_cast<int>(b.ue());
    b.bit();  // entropy_coding_mode_flag
    p.bottomFieldPocPresent = b.bit();
    if (b.failed() || id > 255 || !sps_.count(p.sps)) return false;
    pps_[id] = p;
    return true;
  }

  /** The POC fields of a picture's first slice header; false when unparsable or naming an unknown PPS. */
  bool sliceOrder(const uint8_t* nal, size_t n, const Sps** sps, int32_t* lsb, int32_t* bottom) {
    Bits b(nal + 1, std::min<size_t>(n - 1, 40));  // the fields read fit in 200 bits
    b.ue();  // first_mb_in_slice
    uint32_t sliceType = b.ue();
    auto pps = pps_.find(b.ue());
    if (b.failed() || sliceType > 9 || pps == pps_.end()) return false;
    const Sps& s = sps_.at(pps->second.sps);
    if (s.separateColourPlane) b.bits(2);
    b.bits(s.log2MaxFrameNum);
    if ((nal[0] & 31) == 5) b.ue();  // idr_pic_id
    *lsb = static_cast<int32_t>(b.bits(s.log2MaxPocLsb));
    *bottom = pps->second.bottomFieldPocPresent ? b.se() : 0;
    *sps = &s;
    return !b.failed();
  }

  std::map<uint32_t, Sps> sps_;
  std::map<uint32_t, Pps> pps_;
  int32_t prevMsb_ = 0, prevLsb_ = 0;
};

struct Ahead {
  PacketPtr pkt;
  bool nonReference;
  bool discard;
};
}  // namespace

bool skippingApplies(const VideoRequest& req, const OpenedVideo& v) {
  if (v.st->codecpar->codec_id != AV_CODEC_ID_H264 || req.indices.empty() || req.indices[0] == (int64_t{1} << 53) - 1) return false;
  int lengthSize = nalLengthSize(v.st->codecpar);
  return lengthSize >= 0 && H264Headers().addExtradata(v.st->codecpar, lengthSize);
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
  std::vector<int64_t> ranked;               // pts of the packets whose pictures come out (not discard), sorted
  int64_t firstPts = 0, finalPts = INT64_MIN;  // the keyframe's pts; the largest pts whose rank was used
  std::map<int64_t, int64_t> pending;        // decoded, not yet output: pts -> rank (-1: trimmed)
  int64_t lastOut = INT64_MIN;
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> reorder;  // the decoder's output, modelled
  int64_t reorderOut = INT64_MIN;
  bool eof = false, flushed = false;
  H264Headers headers;
  if (!headers.addExtradata(v.st->codecpar, lengthSize)) return std::nullopt;
  std::map<int64_t, int64_t> order;  // this IDR period's pictures: POC -> pts
  int64_t periodFloor = INT64_MIN, maxPts = INT64_MIN;

  auto rankOf = [&](int64_t pts) -> int64_t {
    if (trim && pts < 0) return -1;
    auto from = trim ? std::lower_bound(ranked.begin(), ranked.end(), 0) : ranked.begin();
    return std::lower_bound(from, ranked.end(), pts) - from;
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
      if (p->pts == AV_NOPTS_VALUE || (p->flags & AV_PKT_FLAG_CORRUPT)) return false;
      // decode.c drops the picture of a packet the demuxer marks discard (an MP4 edit list starting after it)
      bool discard = p->flags & AV_PKT_FLAG_DISCARD;
      p->pts += v.offset;
      if (p->dts != AV_NOPTS_VALUE) p->dts += v.offset;
      if (seen.empty()) {
        if (!(p->flags & AV_PKT_FLAG_KEY)) return false;
        firstPts = p->pts;
      }
      if (!discard && p->pts <= finalPts) return false;
      auto at = std::lower_bound(seen.begin(), seen.end(), p->pts);
      if (at != seen.end() && *at == p->pts) return false;
      seen.insert(at, p->pts);
      if (!discard) ranked.insert(std::lower_bound(ranked.begin(), ranked.end(), p->pts), p->pts);
      // h264dec.c drops a picture that would come out behind one already output; once buffered, a
      // picture comes out before anything larger, so the arrival is the only point to check.
      if (p->pts < reorderOut) return false;
      reorder.push(p->pts);
      if (reorder.size() > delay) {
        reorderOut = reorder.top();
        reorder.pop();
      }
      H264Headers::Facts facts = headers.scan(p->data, static_cast<size_t>(p->size), lengthSize);
      if (!facts.ok) return false;
      // The decoder outputs an IDR period's pictures in POC order, after everything before the IDR: the pts
      // order must be the same.
      if (facts.idr) periodFloor = maxPts, order.clear();
      if (p->pts <= periodFloor) return false;
      auto [it, fresh] = order.emplace(facts.poc, p->pts);
      if (!fresh || (it != order.begin() && std::prev(it)->second >= p->pts) || (std::next(it) != order.end() && std::next(it)->second <= p->pts)) return false;
      maxPts = std::max(maxPts, p->pts);
      ahead.push_back({std::move(p), facts.nonReference, discard});
    }
    return true;
  };

  size_t keptSent = 0;  // kept pictures whose packets were sent (each is decoded inside its send)
  while (next < req.indices.size()) {
    // Once every kept picture is decoded, the rest of the stream is not needed: a flush makes the decoder
    // output what its reorder delay still holds, where more packets would decode the next reference
    // pictures only to push those out.
    const bool allSent = keptSent == req.indices.size();
    if (!allSent && !readAhead()) return std::nullopt;
    if (allSent || ahead.empty()) {
      if (flushed) break;
      dec->skip_frame = AVDISCARD_DEFAULT;
      avcodec_send_packet(dec, nullptr);
      flushed = true;
      if (!drain()) return std::nullopt;
      continue;
    }
    Ahead a = std::move(ahead.front());
    ahead.pop_front();
    int64_t pts = a.pkt->pts, rank = a.discard ? -1 : rankOf(pts);
    if (!a.discard) finalPts = std::max(finalPts, pts);
    bool kept = rank >= 0 && std::binary_search(req.indices.begin() + static_cast<ptrdiff_t>(next), req.indices.end(), rank);
    bool skip = a.nonReference && !kept && pts > firstPts;
    if (!skip && !a.discard) {
      if (pts <= lastOut) return std::nullopt;
      pending.emplace(pts, rank);
    }
    // One packet is decoded inside avcodec_send_packet (one thread, and drain() left no frame waiting).
    dec->skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    if (avcodec_send_packet(dec, a.pkt.get()) < 0) return std::nullopt;
    if (static_cast<size_t>(dec->has_b_frames) < delay) return std::nullopt;  // the model's delay must hold
    res.skipped += skip;
    res.pictures += !skip;
    keptSent += kept;
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
