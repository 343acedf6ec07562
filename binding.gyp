{
  "targets": [
    {
      "target_name": "social_mae",
      "sources": [
        "native/addon.cc",
        "native/common/args.cc", "native/common/errors.cc", "native/common/fork_gate.cc", "native/common/host_memory.cc", "native/common/host_cache.cc", "native/common/malloc_tune.cc", "native/common/handles.cc", "native/common/async_job.cc",
        "native/tensor/creation.cc", "native/tensor/elementwise.cc", "native/tensor/index.cc",
        "native/tensor/reduce.cc", "native/tensor/runtime.cc", "native/tensor/shape.cc", "native/tensor/storage.cc", "native/tensor/alloc_guard.cc",
        "native/autograd/autograd.cc", "native/jit/jit.cc", "native/nn/functional.cc", "native/nn/optim.cc",
        "native/cuda/cuda.cc", "native/data/frame_transform.cc", "native/distributed/process_group.cc", "native/distributed/dist_ops.cc", "native/distributed/grad_buckets.cc",
        "native/media/libav.cc", "native/media/probe.cc", "native/media/graph.cc", "native/media/audio.cc", "native/media/video.cc", "native/media/video_skip.cc", "native/media/media_ops.cc"
      ],
      "include_dirs": ["<!@(node scripts/torch-flags.js --gyp includes)"],
      "defines": ["<!@(node scripts/torch-flags.js --gyp defines)", "NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-sign-compare"],
      "ldflags": ["<!@(node scripts/torch-flags.js --gyp ldflags)"],
      "variables": {"libav%": "<!(pkg-config --exists libavformat libavcodec libavfilter libavutil && [ \"$SOCIAL_MAE_NO_LIBAV\" != 1 ] && echo 1 || echo 0)"},
      "conditions": [
        ["libav==1", {
          "defines": ["SMAE_WITH_LIBAV"],
          "cflags_cc": ["<!@(pkg-config --cflags libavformat libavcodec libavfilter libavutil)"],
          "libraries": ["<!@(pkg-config --libs libavformat libavcodec libavfilter libavutil)"]
        }]
      ]
    }
  ]
}
