// Conversions between JS values and ATen argument types, the tensor handle, and the error guard.
// Shared by the hand-written functions (addon.cpp) and the generated per-operator bindings.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/SmallVector.h>
#include <napi.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

namespace d2po {

// A bad argument from JS (wrong type, disposed tensor). Becomes a JS TypeError.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One native tensor. The JS side holds it through a type-tagged External; dispose() resets the
// tensor early, the External's finalizer deletes the holder. `bytes` is what this handle reported
// to V8 as external memory, so that tensors nobody disposes still push V8 to collect them.
struct TensorHolder {
  at::Tensor t;
  int64_t bytes;
};

extern std::atomic<int64_t> g_live;  // defined tensors owned by holders
extern const napi_type_tag kTensorTag;

Napi::Value wrap(Napi::Env env, at::Tensor t);

inline at::Tensor& toTensor(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) throw ArgError(std::string(what) + " must be a Tensor");
  auto ext = v.As<Napi::External<TensorHolder>>();
  if (!ext.CheckTypeTag(&kTensorTag)) throw ArgError(std::string(what) + " must be a Tensor");
  TensorHolder* h = ext.Data();
  if (!h->t.defined()) throw ArgError(std::string(what) + ": tensor was disposed");
  return h->t;
}

inline c10::optional<at::Tensor> toOptTensor(const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
  return toTensor(v, what);
}

// Plain napi calls here: these run for every argument of every op, and napi_get_value_double
// both checks the type and reads the value in one call.
inline double toDouble(const Napi::Value& v, const char* what) {
  double d;
  if (napi_get_value_double(v.Env(), v, &d) != napi_ok) throw ArgError(std::string(what) + " must be a number");
  return d;
}

inline int64_t toInt(const Napi::Value& v, const char* what) {
  double d;
  if (napi_get_value_double(v.Env(), v, &d) == napi_ok) {
    // The range check comes first: casting NaN, infinities or out-of-range doubles is undefined.
    if (!(d >= -9.2e18 && d <= 9.2e18) || d != static_cast<double>(static_cast<int64_t>(d)))
      throw ArgError(std::string(what) + " must be an integer, got " + v.ToString().Utf8Value());
    return static_cast<int64_t>(d);
  }
  if (v.IsBigInt()) {
    bool lossless;
    int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw ArgError(std::string(what) + " is out of the int64 range");
    return r;
  }
  throw ArgError(std::string(what) + " must be an integer");
}

inline bool toBool(const Napi::Value& v, const char* what) {
  if (!v.IsBoolean()) throw ArgError(std::string(what) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// JS numbers that are whole become integer Scalars, so integer tensors stay integer (x.add(1));
// others become double Scalars. Booleans become bool Scalars.
inline at::Scalar toScalar(const Napi::Value& v, const char* what) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) return at::Scalar(toInt(v, what));
  if (!v.IsNumber()) throw ArgError(std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d >= -9.007199254740992e15 && d <= 9.007199254740992e15 && d == static_cast<double>(static_cast<int64_t>(d)))
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

// Shapes and dim lists are short: kept on the stack.
using IntList = c10::SmallVector<int64_t, 8>;

inline IntList toIntList(const Napi::Value& v, const char* what) {
  IntList out;
  napi_env env = v.Env();
  uint32_t n;
  if (napi_get_array_length(env, v, &n) != napi_ok) {
    if (v.IsNumber() || v.IsBigInt()) {  // int[1] arguments accept a bare integer
      out.push_back(toInt(v, what));
      return out;
    }
    throw ArgError(std::string(what) + " must be an array of integers");
  }
  out.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok) throw ArgError(std::string(what) + " must be an array of integers");
    out.push_back(toInt(Napi::Value(env, e), what));
  }
  return out;
}

inline std::vector<double> toDoubleList(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw ArgError(std::string(what) + " must be an array of numbers");
  auto a = v.As<Napi::Array>();
  std::vector<double> out(a.Length());
  for (uint32_t i = 0; i < out.size(); i++) out[i] = toDouble(a.Get(i), what);
  return out;
}

inline std::vector<at::Tensor> toTensorList(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw ArgError(std::string(what) + " must be an array of Tensors");
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(toTensor(a.Get(i), what));
  return out;
}

inline std::string toStr(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw ArgError(std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline at::ScalarType toScalarType(const Napi::Value& v, const char* what) {
  int64_t c = toInt(v, what);
  if (c < 0 || c >= static_cast<int64_t>(at::ScalarType::NumOptions)) throw ArgError(std::string(what) + ": unknown dtype code");
  return static_cast<at::ScalarType>(c);
}

inline at::Device toDevice(const Napi::Value& v, const char* what) {
  return at::Device(toStr(v, what));  // c10::Error on a malformed string, which the guard reports
}

template <typename T, typename F>
inline c10::optional<T> opt(const Napi::Value& v, F f, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
  return f(v, what);
}

// libtorch's message without the C++ backtrace that some builds append.
inline std::string cleanMessage(const char* what) {
  std::string m(what);
  for (const char* cut : {"\nException raised from", "\nFrame ", " (most recent call first)"}) {
    auto p = m.find(cut);
    if (p != std::string::npos) m.resize(p);
  }
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// Runs f and turns any C++ exception into a pending JS exception.
template <typename F>
inline Napi::Value guard(const Napi::CallbackInfo& info, const char* name, F&& f) {
  Napi::Env env = info.Env();
  try {
    return f();
  } catch (const ArgError& e) {
    Napi::TypeError::New(env, std::string(name) + ": " + e.what()).ThrowAsJavaScriptException();
  } catch (const c10::Error& e) {
    Napi::Error::New(env, std::string(name) + ": " + cleanMessage(e.what_without_backtrace())).ThrowAsJavaScriptException();
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string(name) + ": " + cleanMessage(e.what())).ThrowAsJavaScriptException();
  } catch (...) {
    Napi::Error::New(env, std::string(name) + ": unknown C++ exception").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

inline Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto a = Napi::Array::New(env, ts.size());
  for (uint32_t i = 0; i < ts.size(); i++) a.Set(i, wrap(env, ts[i]));
  return a;
}

inline Napi::Value scalarToJs(Napi::Env env, const at::Scalar& s) {
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
  return Napi::Number::New(env, s.toDouble());
}

void registerOps(Napi::Env env, Napi::Object exports);  // generated

}  // namespace d2po
