/*
 * Where a sparse file's data is (issue 17). Node has no lseek, so an import read every byte of a disk's holes: a
 * 20 GiB cloud image with 2 GiB of data was read, zero-filled by the kernel into the page cache and compared, all
 * 20 GiB of it. With SEEK_DATA a window that is a hole is never read (its digest is that of its zeros).
 *
 *   dataAt(fd, offset) -> the offset of the first data at or after `offset`, or -1 when there is none (ENXIO).
 *   Throws on any other failure (a file system without SEEK_DATA reports the whole file as data instead).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static napi_value dataAt(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  int64_t offset = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok || fd < 0 || offset < 0) {
    napi_throw_type_error(env, NULL, "dataAt(fd, offset): bad arguments");
    return NULL;
  }
  off_t at = lseek(fd, (off_t)offset, SEEK_DATA);
  if (at < 0 && errno != ENXIO) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value r;
  if (napi_create_double(env, at < 0 ? -1.0 : (double)at, &r) != napi_ok) return NULL;
  return r;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "dataAt", NAPI_AUTO_LENGTH, dataAt, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "dataAt", fn) != napi_ok) return NULL;
  return exports;
}
