# node-gyp build of the musiq-native addon, mirroring CMakeLists.txt:
# same sources, NAPI_VERSION 8, C++ exceptions on for the kernel (it catches
# its own), node-addon-api exceptions off, -O3 -ffp-contract=off, no
# fast-math, hidden symbols. Output: build/Release/musiq_native.node.
{
  "targets": [
    {
      "target_name": "musiq_native",
      "sources": [
        "native/gaussian_resize.cc",
        "native/patch_tokens.cc",
        "native/vila_resize.cc",
        "native/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden"],
      "cflags_cc": ["-fexceptions", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden"],
      "configurations": {
        "Release": {
          "cflags": ["-O3"],
          "cflags_cc": ["-O3"]
        }
      },
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-ffp-contract=off", "-fno-fast-math"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "FloatingPointModel": 0,
          "AdditionalOptions": ["/std:c++17"]
        }
      }
    }
  ]
}
