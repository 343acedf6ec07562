// Builds the filter graph of graph.h.
#ifdef SMAE_WITH_LIBAV
#include "graph.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/opt.h>
}

namespace smae::media {

Graph makeGraph(const std::string& source, const std::string& chain, bool audio, const std::string& swsOpts,
                const std::string& swrOpts) {
  Graph g;
  g.graph.reset(avfilter_graph_alloc());
  if (!g.graph) throw JsError("ERR_OOM", "avfilter_graph_alloc failed");
  g.graph->nb_threads = 1;
  if (!swsOpts.empty()) g.graph->scale_sws_opts = av_strdup(swsOpts.c_str());
  if (!swrOpts.empty()) av_opt_set(g.graph.get(), "aresample_swr_opts", swrOpts.c_str(), 0);
  const AVFilter* src = avfilter_get_by_name(audio ? "abuffer" : "buffer");
  const AVFilter* sink = avfilter_get_by_name(audio ? "abuffersink" : "buffersink");
  int r = avfilter_graph_create_filter(&g.src, src, "in", source.c_str(), nullptr, g.graph.get());
  if (r < 0) fail("filter source " + source, r);
  r = avfilter_graph_create_filter(&g.sink, sink, "out", nullptr, nullptr, g.graph.get());
  if (r < 0) fail("filter sink", r);
  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  if (!outputs || !inputs) {
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    throw JsError("ERR_OOM", "avfilter_inout_alloc failed");
  }
  outputs->name = av_strdup("in");
  outputs->filter_ctx = g.src;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = g.sink;
  r = avfilter_graph_parse_ptr(g.graph.get(), chain.c_str(), &inputs, &outputs, nullptr);
  avfilter_inout_free(&outputs);
  avfilter_inout_free(&inputs);
  if (r < 0) fail("filter graph " + chain, r);
  r = avfilter_graph_config(g.graph.get(), nullptr);
  if (r < 0) fail("filter graph " + chain, r);
  return g;
}

}  // namespace smae::media
#endif
