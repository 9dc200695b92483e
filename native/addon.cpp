// Node-API addon over libtorch: tensor handles, data in/out, autograd and global modes.
// The per-operator functions are generated (gen-ops.mjs); this file holds what is not an ATen op.
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <link.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "convert.h"

namespace d2po {

std::atomic<int64_t> g_live{0};
// Inside a JS scope tensors are freed deterministically, so they are not reported to V8: that
// would only make it run needless full collections in the middle of training steps.
static bool g_reportMemory = true;

// Frees the tensor of a holder (dispose() or finalizer) and returns its bytes to V8's account.
static void release(Napi::BasicEnv env, TensorHolder* h) {
  if (!h->t.defined()) return;
  h->t.reset();
  g_live--;
  if (h->bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -h->bytes);
  h->bytes = 0;
}
const napi_type_tag kTensorTag = {0x6432706f74656e73ULL, 0x6f72686f6c646572ULL};

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  int64_t bytes = g_reportMemory ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
  auto* h = new TensorHolder{std::move(t), bytes};
  g_live++;
  // A basic (GC-time) finalizer: it touches no JS, so Node runs it during collection instead of
  // queueing it for the event loop, which a synchronous training loop may not return to for
  // thousands of steps (the queued holders grew RSS by ~7 KB per step).
  auto ext = Napi::External<TensorHolder>::New(env, h, [](Napi::BasicEnv e, TensorHolder* p) {
    release(e, p);
    delete p;
  });
  ext.TypeTag(&kTensorTag);
  if (bytes) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  return ext;
}

static TensorHolder* holder(const Napi::Value& v) {
  if (!v.IsExternal()) throw ArgError("expected a Tensor");
  auto ext = v.As<Napi::External<TensorHolder>>();
  if (!ext.CheckTypeTag(&kTensorTag)) throw ArgError("expected a Tensor");
  return ext.Data();
}

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

// --- lifetime and metadata -------------------------------------------------------------------

static Napi::Value dispose(const Napi::CallbackInfo& info) {
  return guard(info, "dispose", [&]() -> Napi::Value {
    release(info.Env(), holder(info[0]));
    return info.Env().Undefined();
  });
}

static Napi::Value setReportMemory(const Napi::CallbackInfo& info) {
  return guard(info, "setReportMemory", [&]() -> Napi::Value {
    g_reportMemory = toBool(info[0], "on");
    return info.Env().Undefined();
  });
}

static Napi::Value liveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_live.load()));
}

static Napi::Value isLive(const Napi::CallbackInfo& info) {
  return guard(info, "isLive", [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), holder(info[0])->t.defined());
  });
}

static Napi::Value shape(const Napi::CallbackInfo& info) {
  return guard(info, "shape", [&]() -> Napi::Value {
    const at::Tensor& t = toTensor(info[0], "tensor");
    auto sizes = t.sizes();
    auto a = Napi::Array::New(info.Env(), sizes.size());
    for (uint32_t i = 0; i < sizes.size(); i++) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(sizes[i])));
    return a;
  });
}

static Napi::Value dtype(const Napi::CallbackInfo& info) {
  return guard(info, "dtype", [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<int>(toTensor(info[0], "tensor").scalar_type()));
  });
}

static Napi::Value device(const Napi::CallbackInfo& info) {
  return guard(info, "device", [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), toTensor(info[0], "tensor").device().str());
  });
}

// --- data in and out -------------------------------------------------------------------------

static at::ScalarType typedArrayDtype(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_uint8_array: return at::kByte;
    case napi_int8_array: return at::kChar;
    case napi_int16_array: return at::kShort;
    default: throw ArgError("unsupported typed array type");
  }
}

// fromData(typedArray, shape, dtypeCode, device?) -> new tensor (a copy).
static Napi::Value fromData(const Napi::CallbackInfo& info) {
  return guard(info, "tensor", [&]() -> Napi::Value {
    if (!info[0].IsTypedArray()) throw ArgError("data must be a typed array");
    auto ta = info[0].As<Napi::TypedArray>();
    auto shape = toIntList(info[1], "shape");
    auto dtype = toScalarType(info[2], "dtype");
    int64_t n = 1;
    for (auto s : shape) {
      if (s < 0) throw ArgError("shape has a negative size");
      n *= s;
    }
    if (n != static_cast<int64_t>(ta.ElementLength()))
      throw ArgError("shape [" + c10::Join(", ", shape) + "] needs " + std::to_string(n) + " elements, data has " +
                     std::to_string(ta.ElementLength()));
    auto src = typedArrayDtype(ta.TypedArrayType());
    uint8_t* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    at::Tensor view = at::from_blob(data, shape, at::TensorOptions().dtype(src));
    at::Tensor t = view.to(dtype, /*non_blocking=*/false, /*copy=*/true);
    if (!info[3].IsUndefined() && !info[3].IsNull()) t = t.to(toDevice(info[3], "device"));
    return wrap(info.Env(), std::move(t));
  });
}

// toData(tensor, kind): kind "f32" | "f64" | "i32" | "i64" -> a typed array copy.
static Napi::Value toData(const Napi::CallbackInfo& info) {
  return guard(info, "toData", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const at::Tensor& src = toTensor(info[0], "tensor");
    std::string kind = toStr(info[1], "kind");
    at::NoGradGuard ng;
    at::ScalarType st;
    napi_typedarray_type tt;
    if (kind == "f32") st = at::kFloat, tt = napi_float32_array;
    else if (kind == "f64") st = at::kDouble, tt = napi_float64_array;
    else if (kind == "i32") st = at::kInt, tt = napi_int32_array;
    else if (kind == "i64") st = at::kLong, tt = napi_bigint64_array;
    else throw ArgError("unknown kind " + kind);
    at::Tensor t = src.to(at::kCPU).contiguous();
    if (kind == "i32" && t.numel() > 0 && at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
      at::Tensor l = t.to(at::kLong);
      int64_t lo = l.min().item<int64_t>(), hi = l.max().item<int64_t>();
      if (lo < INT32_MIN || hi > INT32_MAX) throw ArgError("values out of int32 range; use toBigInt64Array()");
    }
    t = t.to(st).contiguous();
    size_t bytes = t.numel() * t.element_size();
    auto buf = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
    napi_value out;
    napi_status s = napi_create_typedarray(env, tt, t.numel(), buf, 0, &out);
    if (s != napi_ok) throw std::runtime_error("could not create typed array");
    return Napi::Value(env, out);
  });
}

// --- autograd --------------------------------------------------------------------------------

static Napi::Value requiresGrad(const Napi::CallbackInfo& info) {
  return guard(info, "requiresGrad", [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), toTensor(info[0], "tensor").requires_grad());
  });
}

static Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  return guard(info, "requiresGrad", [&]() -> Napi::Value {
    at::Tensor& t = toTensor(info[0], "tensor");
    bool v = toBool(info[1], "value");
    // As in PyTorch's Python API: a computed tensor's flag is owned by the graph.
    if (!t.is_leaf())
      throw std::runtime_error("you can only change requiresGrad of leaf tensors; use detach() for a non-differentiable copy");
    t.set_requires_grad(v);
    return info.Env().Undefined();
  });
}

static Napi::Value isLeaf(const Napi::CallbackInfo& info) {
  return guard(info, "isLeaf", [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), toTensor(info[0], "tensor").is_leaf());
  });
}

static Napi::Value grad(const Napi::CallbackInfo& info) {
  return guard(info, "grad", [&]() -> Napi::Value {
    return wrap(info.Env(), toTensor(info[0], "tensor").grad());
  });
}

static Napi::Value setGrad(const Napi::CallbackInfo& info) {
  return guard(info, "setGrad", [&]() -> Napi::Value {
    at::Tensor& t = toTensor(info[0], "tensor");
    auto g = toOptTensor(info[1], "grad");
    t.mutable_grad() = g ? *g : at::Tensor();
    return info.Env().Undefined();
  });
}

// backward(tensor, gradient?, retainGraph?)
static Napi::Value backward(const Napi::CallbackInfo& info) {
  return guard(info, "backward", [&]() -> Napi::Value {
    const at::Tensor& t = toTensor(info[0], "tensor");
    auto g = toOptTensor(info[1], "gradient");
    auto retain = opt<bool>(info[2], toBool, "retainGraph");
    t.backward(g ? *g : at::Tensor(), retain, /*create_graph=*/false);
    return info.Env().Undefined();
  });
}

static Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  return guard(info, "setGradEnabled", [&]() -> Napi::Value {
    bool prev = at::GradMode::is_enabled();
    at::GradMode::set_enabled(toBool(info[0], "enabled"));
    return Napi::Boolean::New(info.Env(), prev);
  });
}

// inferenceModeEnter() -> token; inferenceModeExit(token). The RAII guard lives on the heap
// between the two calls; the JS side pairs them with try/finally, so they nest like scopes.
static Napi::Value inferenceModeEnter(const Napi::CallbackInfo& info) {
  return guard(info, "inferenceMode", [&]() -> Napi::Value {
    auto* g = new c10::InferenceMode(true);
    return Napi::External<c10::InferenceMode>::New(info.Env(), g);
  });
}

static Napi::Value inferenceModeExit(const Napi::CallbackInfo& info) {
  return guard(info, "inferenceMode", [&]() -> Napi::Value {
    if (!info[0].IsExternal()) throw ArgError("expected an inference mode token");
    delete info[0].As<Napi::External<c10::InferenceMode>>().Data();
    return info.Env().Undefined();
  });
}

static Napi::Value isGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

// --- autocast --------------------------------------------------------------------------------

// autocastEnter(dtypeCode, enabled) -> [prevCpuEnabled, prevCpuDtype, prevCudaEnabled, prevCudaDtype]
static Napi::Value autocastEnter(const Napi::CallbackInfo& info) {
  return guard(info, "autocast", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto dt = toScalarType(info[0], "dtype");
    bool enabled = toBool(info[1], "enabled");
    auto prev = Napi::Array::New(env, 4);
    prev.Set(0u, Napi::Boolean::New(env, at::autocast::is_cpu_enabled()));
    prev.Set(1u, Napi::Number::New(env, static_cast<int>(at::autocast::get_autocast_cpu_dtype())));
    prev.Set(2u, Napi::Boolean::New(env, at::autocast::is_enabled()));
    prev.Set(3u, Napi::Number::New(env, static_cast<int>(at::autocast::get_autocast_gpu_dtype())));
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dt);
    if (at::hasCUDA()) {
      at::autocast::set_enabled(enabled);
      at::autocast::set_autocast_gpu_dtype(dt);
    }
    at::autocast::increment_nesting();
    return prev;
  });
}

static Napi::Value autocastExit(const Napi::CallbackInfo& info) {
  return guard(info, "autocast", [&]() -> Napi::Value {
    // The cast cache holds bf16 copies of weights; it must go when the outermost region ends,
    // or it would keep stale copies after the optimiser updates the weights.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(toBool(info[0], "cpuEnabled"));
    at::autocast::set_autocast_cpu_dtype(toScalarType(info[1], "cpuDtype"));
    at::autocast::set_enabled(toBool(info[2], "cudaEnabled"));
    at::autocast::set_autocast_gpu_dtype(toScalarType(info[3], "cudaDtype"));
    return info.Env().Undefined();
  });
}

// The cast cache keys on the weight tensor, not its values: after an in-place update (an
// optimiser step, a load) inside an autocast region, forwards would keep using the old copy.
static Napi::Value autocastClearCache(const Napi::CallbackInfo& info) {
  return guard(info, "autocast", [&]() -> Napi::Value {
    at::autocast::clear_cache();
    return info.Env().Undefined();
  });
}

// --- global settings and info ----------------------------------------------------------------

static Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  return guard(info, "manualSeed", [&]() -> Napi::Value {
    at::manual_seed(static_cast<uint64_t>(toInt(info[0], "seed")));
    return info.Env().Undefined();
  });
}

// openblas_set_num_threads from whichever loaded library provides it. Node loads addons with
// local symbol scope, so RTLD_DEFAULT alone does not see libtorch's BLAS: look through the
// loaded objects.
using SetThreadsFn = void (*)(int);
static int findOpenblas(struct dl_phdr_info* info, size_t, void* out) {
  if (!info->dlpi_name || !std::strstr(info->dlpi_name, "blas")) return 0;
  void* lib = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (!lib) return 0;
  void* sym = dlsym(lib, "openblas_set_num_threads");
  dlclose(lib);
  if (!sym) return 0;
  *static_cast<void**>(out) = sym;
  return 1;
}
static SetThreadsFn openblasSetNumThreads() {
  static SetThreadsFn fn = [] {
    void* sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (!sym) dl_iterate_phdr(findOpenblas, &sym);
    return reinterpret_cast<SetThreadsFn>(sym);
  }();
  return fn;
}

static Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  return guard(info, "setNumThreads", [&]() -> Napi::Value {
    int64_t n = toInt(info[0], "threads");
    if (n < 1) throw ArgError("threads must be >= 1");
    at::set_num_threads(static_cast<int>(n));
    // ATen sets OpenMP's (and MKL's) thread count but not OpenBLAS's own pthread pool, which
    // otherwise keeps one thread per core: matmuls would ignore the setting.
    if (auto set = openblasSetNumThreads()) set(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

static Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

static Napi::Value cudaAvailable(const Napi::CallbackInfo& info) {
  return guard(info, "cudaAvailable", [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), at::hasCUDA()); });
}

static Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  return guard(info, "buildInfo", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    o.Set("openblasThreadControl", openblasSetNumThreads() != nullptr);
    o.Set("torchVersion", TORCH_VERSION);
    o.Set("config", at::show_config());
    o.Set("parallel", at::get_parallel_info());
    return o;
  });
}

// --- the C heap ------------------------------------------------------------------------------
// Tensor memory comes from glibc malloc. Large transient tensors (logits, activations) that fall
// under its mmap threshold are freed into its heaps, which glibc keeps mapped; every thread that
// allocates gets its own arena (up to 8 per core), each holding its own high-water mark.

// Returns free heap pages to the OS (after large frees); true when some were released.
static Napi::Value mallocTrim(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Bytes the C heap has mapped and how many of them are in use (glibc mallinfo2); null elsewhere.
static Napi::Value mallocStats(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 m = mallinfo2();
  auto o = Napi::Object::New(info.Env());
  o.Set("mapped", static_cast<double>(m.arena + m.hblkhd));
  o.Set("inUse", static_cast<double>(m.uordblks + m.hblkhd));
  o.Set("free", static_cast<double>(m.fordblks));
  return o;
#else
  return info.Env().Null();
#endif
}

// The arena limit in effect: MALLOC_ARENA_MAX or glibc.malloc.arena_max when the user set one,
// else kArenaMax, set before libtorch's and OpenBLAS's threads first allocate.
static constexpr int kArenaMax = 2;
static void limitArenas() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_ARENA_MAX") || (tunables && std::strstr(tunables, "arena_max"))) return;
  mallopt(M_ARENA_MAX, kArenaMax);
#endif
}

// libtorch's TORCH_WARN goes through glog to stderr on every occurrence, with a glog banner; this
// prints each distinct warning once, as Python's default warning filter does for PyTorch users.
class OnceWarningHandler : public c10::WarningHandler {
 public:
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (seen_.insert(msg).second) std::fprintf(stderr, "libtorch warning: %s\n", msg.c_str());
  }

 private:
  std::mutex mutex_;
  std::unordered_set<std::string> seen_;
};

}  // namespace d2po

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace d2po;
  static OnceWarningHandler warnings;
  c10::Warning::set_warning_handler(&warnings);
  limitArenas();
  const std::pair<const char*, Fn> fns[] = {
      {"dispose", dispose},
      {"liveCount", liveCount},
      {"setReportMemory", setReportMemory},
      {"isLive", isLive},
      {"shape", shape},
      {"dtype", dtype},
      {"device", device},
      {"fromData", fromData},
      {"toData", toData},
      {"requiresGrad", requiresGrad},
      {"setRequiresGrad", setRequiresGrad},
      {"isLeaf", isLeaf},
      {"grad", grad},
      {"setGrad", setGrad},
      {"backward", backward},
      {"setGradEnabled", setGradEnabled},
      {"isGradEnabled", isGradEnabled},
      {"inferenceModeEnter", inferenceModeEnter},
      {"inferenceModeExit", inferenceModeExit},
      {"autocastEnter", autocastEnter},
      {"autocastExit", autocastExit},
      {"autocastClearCache", autocastClearCache},
      {"manualSeed", manualSeed},
      {"setNumThreads", setNumThreads},
      {"getNumThreads", getNumThreads},
      {"cudaAvailable", cudaAvailable},
      {"buildInfo", buildInfo},
      {"mallocTrim", mallocTrim},
      {"mallocStats", mallocStats},
  };
  for (const auto& f : fns) exports.Set(f.first, Napi::Function::New(env, f.second, f.first));
  registerOps(env, exports);
  return exports;
}

NODE_API_MODULE(d2po, Init)
