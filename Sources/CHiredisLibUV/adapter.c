/*
 * hiredis <-> libuv glue. This is hiredis 0.14's adapters/libuv.h with two fixes:
 *
 * 1. libuv reports POLLERR to a poll callback as status UV_EBADF (and stops the handle). The
 *    stock adapter returns on any non-zero status, so a refused connect or a reset connection
 *    is never noticed: no connect or disconnect callback ever fires and the client hangs. Here
 *    an error status is handed to hiredis as "readable and writable", so hiredis reads the
 *    socket error itself and runs its normal failure path (callbacks, then free).
 * 2. A failed uv_poll_init no longer leaks the event struct or leaves a cleanup hook without data.
 */
#include "CHiredisLibUV.h"
#include <stdlib.h>
#include <string.h>

typedef struct ci_events {
    redisAsyncContext *context;
    uv_poll_t handle;
    int events;
} ci_events;

static void ci_poll(uv_poll_t *handle, int status, int events) {
    ci_events *p = (ci_events *)handle->data;
    if (status != 0) events = UV_READABLE | UV_WRITABLE;
    /* Handling the read may free the context (p->context becomes NULL): check again. */
    if (p->context != NULL && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void ci_update(ci_events *p) {
    if (p->events) uv_poll_start(&p->handle, p->events, ci_poll);
    else uv_poll_stop(&p->handle);
}

static void ci_add_read(void *data) { ci_events *p = data; p->events |= UV_READABLE; ci_update(p); }
static void ci_del_read(void *data) { ci_events *p = data; p->events &= ~UV_READABLE; ci_update(p); }
static void ci_add_write(void *data) { ci_events *p = data; p->events |= UV_WRITABLE; ci_update(p); }
static void ci_del_write(void *data) { ci_events *p = data; p->events &= ~UV_WRITABLE; ci_update(p); }

/* The poll handle's memory lives until its close callback. */
static void ci_on_close(uv_handle_t *handle) { free(handle->data); }

static void ci_cleanup(void *data) {
    ci_events *p = data;
    p->context = NULL;
    uv_close((uv_handle_t *)&p->handle, ci_on_close);
}

int ci_redis_libuv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data != NULL) return -1;
    ci_events *p = calloc(1, sizeof(*p));
    if (p == NULL) return -1;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    p->handle.data = p;
    p->context = ac;
    ac->ev.addRead = ci_add_read;
    ac->ev.delRead = ci_del_read;
    ac->ev.addWrite = ci_add_write;
    ac->ev.delWrite = ci_del_write;
    ac->ev.cleanup = ci_cleanup;
    ac->ev.data = p;
    return 0;
}
