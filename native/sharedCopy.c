/*
 * memcpy into a SharedArrayBuffer (issue 17). A pull copies every byte it downloads once, from the socket's read
 * buffer into the shared slots its hash worker reads (hashWorkers.ts). V8 copies into shared memory with relaxed
 * atomic moves, word by word (`relaxed_memmove`): on this 2-core machine that copy was the largest item on the daemon's
 * main thread during a pull (0.26 s per 0.43 GiB), libc's memcpy does it in a third of that. The worker reads a slot
 * only after a message naming it, which orders the two threads' accesses, so a plain copy is safe.
 *
 *   copy(target, at, source) -> bytes copied: as much of `source` as fits into `target` from offset `at`
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <string.h>

static napi_value copy(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  void *dst, *src;
  size_t dstLen, srcLen;
  int64_t at = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_buffer_info(env, argv[0], &dst, &dstLen) != napi_ok ||
      napi_get_value_int64(env, argv[1], &at) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &src, &srcLen) != napi_ok ||
      at < 0 || (uint64_t)at > dstLen) {
    napi_throw_type_error(env, NULL, "copy(target, at, source): bad arguments");
    return NULL;
  }
  size_t room = dstLen - (size_t)at;
  size_t n = srcLen < room ? srcLen : room;
  memmove((char *)dst + at, src, n);
  napi_value r;
  if (napi_create_double(env, (double)n, &r) != napi_ok) return NULL;
  return r;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "copy", fn) != napi_ok) return NULL;
  return exports;
}
