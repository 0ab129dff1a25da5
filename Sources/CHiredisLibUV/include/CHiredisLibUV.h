#ifndef CI_HIREDIS_LIBUV_H
#define CI_HIREDIS_LIBUV_H
#include <hiredis/async.h>
#include <uv.h>

/// Attaches a hiredis async context to a libuv loop. Returns 0 on success; on failure nothing
/// is attached and the caller may redisAsyncFree the context.
int ci_redis_libuv_attach(redisAsyncContext *context, uv_loop_t *loop);

#endif
