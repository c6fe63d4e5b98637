#pragma once
// CPtr<T, free_fn>: a unique_ptr for C handles (libevent, OpenSSL, xmlsec) freed by a
// function of their library. Owns the handle; not thread-safe beyond unique_ptr's rules.

#include <memory>

namespace stepgate {

template <auto FreeFn>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) FreeFn(p);
  }
};

template <typename T, auto FreeFn>
using CPtr = std::unique_ptr<T, CDeleter<FreeFn>>;

}  // namespace stepgate
