#ifndef CI_HIREDIS_LIBUV_H
#define CI_HIREDIS_LIBUV_H
#include <hiredis/async.h>
#include <uv.h>

/// Attaches a hiredis async context to a libuv loop. Returns 0 on success; on failure nothing
/// is attached and the caller may redisAsyncFree the context.
int ci_redis_libuv_attach(redisAsyncContext *context, uv_loop_t *loop);

/// Called with every reply of a context in push mode (the reply is freed after the call).
typedef void (*ci_reply_handler)(redisAsyncContext *context, void *reply);

/// Puts an attached context in push mode: every reply goes to `handler`, in arrival order, and
/// hiredis' callback queue is not used (send with ci_redis_send_raw). For pub/sub connections.
int ci_redis_libuv_push_mode(redisAsyncContext *context, ci_reply_handler handler);

/// Appends one command to a push-mode context's output (no callback), written this loop turn.
int ci_redis_send_raw(redisAsyncContext *context, int argc, const char **argv, const size_t *argvlen);

#endif
