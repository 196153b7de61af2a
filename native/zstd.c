/*
 * The smallest binding of Debian's libzstd imports and pulls need (issue 17): a window is read, hashed and
 * compressed on one hash worker thread, so its bytes cross no pipe and are never read twice; a pulled
 * window is decompressed on a worker as its blob downloads. npm's zstd
 * bindings fetch prebuilt binaries or run node-gyp at install (neither works offline with npm 11), so
 * scripts/build-native.mjs compiles this file with gcc against Node's own headers. Without it the
 * daemon compresses with the `zstd` binary (childJobs.ts).
 *
 *   create(level, workers) -> context   (frames carry their content checksum, as the zstd CLI writes them)
 *   reset(context)                      (drop a frame left unfinished by a failure or a cancel)
 *   compress(context, input, output, end, state)
 *       compresses from `input` into `output` until the input is taken (end: the frame is closed) or the
 *       output is full; state (Float64Array(3)) = [bytes taken, bytes written, bytes still to flush]
 *   dcreate() -> decompression context (windows up to 128 MiB: a hostile frame cannot ask for more memory)
 *   dreset(context)
 *   decompress(context, input, output, state)
 *       decompresses from `input` into `output` until the input is taken or the output is full; state =
 *       [bytes taken, bytes written, 0 when a frame just ended (its checksum checked) else more is expected]
 *   version() -> libzstd's version string
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <zstd.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_type_error(env, NULL, "zstd binding: bad arguments"); return NULL; } } while (0)

static void release(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ZSTD_freeCCtx((ZSTD_CCtx *)data);
}

static napi_value fail(napi_env env, size_t code) {
  napi_throw_error(env, NULL, ZSTD_getErrorName(code));
  return NULL;
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t level = 3, workers = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_int32(env, argv[0], &level));
  CHECK(napi_get_value_int32(env, argv[1], &workers));
  ZSTD_CCtx *c = ZSTD_createCCtx();
  if (!c) {
    napi_throw_error(env, NULL, "zstd: out of memory");
    return NULL;
  }
  size_t r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  if (!ZSTD_isError(r) && workers > 0) r = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers);
  if (ZSTD_isError(r)) {
    ZSTD_freeCCtx(c);
    return fail(env, r);
  }
  napi_value ext;
  if (napi_create_external(env, c, release, NULL, &ext) != napi_ok) {
    ZSTD_freeCCtx(c);
    CHECK(napi_generic_failure);
  }
  return ext;
}

static napi_value reset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  ZSTD_CCtx *c;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_external(env, argv[0], (void **)&c));
  size_t r = ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
  return ZSTD_isError(r) ? fail(env, r) : NULL;
}

static napi_value compress(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  ZSTD_CCtx *c;
  void *in, *out, *st;
  size_t inLen, outLen, n, off;
  bool end;
  napi_typedarray_type type;
  napi_value ab;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_external(env, argv[0], (void **)&c));
  CHECK(napi_get_buffer_info(env, argv[1], &in, &inLen));
  CHECK(napi_get_buffer_info(env, argv[2], &out, &outLen));
  CHECK(napi_get_value_bool(env, argv[3], &end));
  CHECK(napi_get_typedarray_info(env, argv[4], &type, &n, &st, &ab, &off));
  if (type != napi_float64_array || n < 3) CHECK(napi_invalid_arg);
  ZSTD_inBuffer ib = { in, inLen, 0 };
  ZSTD_outBuffer ob = { out, outLen, 0 };
  size_t left;
  do {
    left = ZSTD_compressStream2(c, &ob, &ib, end ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) return fail(env, left);
  } while (ob.pos < ob.size && (end ? left != 0 : ib.pos < ib.size));
  double *s = (double *)st;
  s[0] = (double)ib.pos;
  s[1] = (double)ob.pos;
  s[2] = (double)left;
  return NULL;
}

static void drelease(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ZSTD_freeDCtx((ZSTD_DCtx *)data);
}

static napi_value dcreate(napi_env env, napi_callback_info info) {
  (void)info;
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d) {
    napi_throw_error(env, NULL, "zstd: out of memory");
    return NULL;
  }
  size_t r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
  if (ZSTD_isError(r)) {
    ZSTD_freeDCtx(d);
    return fail(env, r);
  }
  napi_value ext;
  if (napi_create_external(env, d, drelease, NULL, &ext) != napi_ok) {
    ZSTD_freeDCtx(d);
    CHECK(napi_generic_failure);
  }
  return ext;
}

static napi_value dreset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  ZSTD_DCtx *d;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_external(env, argv[0], (void **)&d));
  size_t r = ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
  return ZSTD_isError(r) ? fail(env, r) : NULL;
}

static napi_value decompress(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  ZSTD_DCtx *d;
  void *in, *out, *st;
  size_t inLen, outLen, n, off;
  napi_typedarray_type type;
  napi_value ab;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) CHECK(napi_invalid_arg);
  CHECK(napi_get_value_external(env, argv[0], (void **)&d));
  CHECK(napi_get_buffer_info(env, argv[1], &in, &inLen));
  CHECK(napi_get_buffer_info(env, argv[2], &out, &outLen));
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &n, &st, &ab, &off));
  if (type != napi_float64_array || n < 3) CHECK(napi_invalid_arg);
  ZSTD_inBuffer ib = { in, inLen, 0 };
  ZSTD_outBuffer ob = { out, outLen, 0 };
  size_t hint = 1;
  while (ib.pos < ib.size && ob.pos < ob.size) {
    hint = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(hint)) return fail(env, hint);
    if (hint == 0) break; /* a frame ended: the caller sees it before the next one starts */
  }
  double *s = (double *)st;
  s[0] = (double)ib.pos;
  s[1] = (double)ob.pos;
  s[2] = (double)hint;
  return NULL;
}

static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(napi_create_string_utf8(env, ZSTD_versionString(), NAPI_AUTO_LENGTH, &v));
  return v;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor fns[] = {
    { "create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "reset", NULL, reset, NULL, NULL, NULL, napi_enumerable, NULL },
    { "compress", NULL, compress, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dcreate", NULL, dcreate, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dreset", NULL, dreset, NULL, NULL, NULL, napi_enumerable, NULL },
    { "decompress", NULL, decompress, NULL, NULL, NULL, napi_enumerable, NULL },
    { "version", NULL, version, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}
