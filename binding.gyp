{
  # libtorch locations come from native/check-libtorch.mjs ($LIBTORCH or Debian's libtorch-dev).
  "variables": {
    "torch_include_dirs": "<!(node native/check-libtorch.mjs --gyp include_dirs)",
    "torch_header_dir": "<!(node native/check-libtorch.mjs --gyp header_dir)",
    "torch_libraries": "<!(node native/check-libtorch.mjs --gyp libraries)",
    "torch_rpath": "<!(node native/check-libtorch.mjs --gyp rpath)",
    "torch_defines": "<!(node native/check-libtorch.mjs --gyp defines)",
  },
  "targets": [
    {
      "target_name": "d2po",
      "sources": [
        "native/addon.cpp",
        # Per-operator bindings, generated from the libtorch headers being built against.
        "<!(node native/gen-ops.mjs <(torch_header_dir) build/generated/ops.cpp)",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<@(torch_include_dirs)",
      ],
      # NAPI_EXPERIMENTAL: GC-time finalizers for tensor handles (see wrap() in native/addon.cpp).
      "defines": ["NAPI_EXPERIMENTAL", "NAPI_CPP_EXCEPTIONS", "<@(torch_defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14", "-std=c++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": ["<@(torch_libraries)", "<@(torch_rpath)"],
    },
  ],
}
