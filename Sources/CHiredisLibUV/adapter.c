/*
 * hiredis <-> libuv glue. This is hiredis 0.14's adapters/libuv.h with these changes:
 *
 * 1. libuv reports POLLERR to a poll callback as status UV_EBADF (and stops the handle). The
 *    stock adapter returns on any non-zero status, so a refused connect or a reset connection
 *    is never noticed: no connect or disconnect callback ever fires and the client hangs. Here
 *    an error status is handed to hiredis as "readable and writable", so hiredis reads the
 *    socket error itself and runs its normal failure path (callbacks, then free).
 * 2. A failed uv_poll_init no longer leaks the event struct or leaves a cleanup hook without data.
 * 3. The poll handle is re-armed only when the events it waits for change (hiredis asks for
 *    reads after every write: with the stock adapter that is an epoll_ctl per command).
 * 4. Commands are written in the loop turn that issued them, not after the next poll reports
 *    the socket writable: every command of one turn leaves in one write, one turn sooner. A
 *    uv_check handle writes what I/O callbacks issued (it runs right after the poll phase); a
 *    uv_prepare handle writes what timers issued (it runs before the poll phase, which would
 *    otherwise block with the command unsent: an active check handle does not shorten the poll
 *    timeout). Whichever runs first writes and stops both. Only a write the kernel did not take
 *    whole (or a connect in progress) waits for POLLOUT.
 *
 * 5. A context can be switched to push mode (ci_redis_libuv_push_mode): every reply is read here
 *    and handed to one handler in arrival order, bypassing hiredis' callback queue. hiredis 0.14
 *    knows SUBSCRIBE but not SSUBSCRIBE (Redis 7's sharded pub/sub): its dispatcher would assert
 *    on the first `smessage`. Commands of such a context are appended with ci_redis_send_raw.
 *
 * The struct below owns its three handles; it is freed in the close callback of the last one.
 */
#include "CHiredisLibUV.h"
#include <stdlib.h>
#include <string.h>

typedef struct ci_events {
    redisAsyncContext *context; /* NULL once hiredis cleaned up (the context is gone) */
    uv_poll_t poll;
    uv_check_t flush;       /* after the poll phase */
    uv_prepare_t flush_early; /* before the poll phase */
    int wanted;       /* what hiredis asked for: UV_READABLE | UV_WRITABLE */
    int armed;        /* what the poll handle waits for now */
    int blocked;      /* a flush left bytes unwritten: wait for POLLOUT */
    int open_handles; /* handles whose close callback has not run yet */
    ci_reply_handler on_reply; /* push mode: receives every reply (NULL: hiredis dispatches) */
} ci_events;

/* Push mode: reads what arrived and hands every complete reply to the handler. Anything else
 * (the connect completing, EOF, a protocol error) goes to hiredis' own read path, which runs the
 * connect or disconnect callbacks as usual. */
static void ci_read_replies(ci_events *p) {
    redisAsyncContext *ac = p->context;
    redisContext *c = &ac->c;
    if (!(c->flags & REDIS_CONNECTED) || redisBufferRead(c) != REDIS_OK) {
        redisAsyncHandleRead(ac);
        return;
    }
    void *reply = NULL;
    while (redisGetReply(c, &reply) == REDIS_OK && reply != NULL) {
        p->on_reply(ac, reply);
        freeReplyObject(reply);
        reply = NULL;
        if (p->context == NULL) return;
    }
    if (c->err) redisAsyncHandleRead(ac); /* c->err set: hiredis disconnects and calls back */
}

static void ci_poll(uv_poll_t *handle, int status, int events);

/* Starts, changes or stops the poll handle, only when its events change. */
static void ci_arm(ci_events *p) {
    int events = p->wanted & UV_READABLE;
    int connected = p->context != NULL && (p->context->c.flags & REDIS_CONNECTED);
    if ((p->wanted & UV_WRITABLE) && (p->blocked || !connected)) events |= UV_WRITABLE;
    if (events == p->armed) return;
    p->armed = events;
    if (events) uv_poll_start(&p->poll, events, ci_poll);
    else uv_poll_stop(&p->poll);
}

static void ci_poll(uv_poll_t *handle, int status, int events) {
    ci_events *p = (ci_events *)handle->data;
    if (status != 0) {
        p->armed = 0; /* libuv stopped the handle */
        events = UV_READABLE | UV_WRITABLE;
    }
    /* Handling the read may free the context (p->context becomes NULL): check again. */
    if (p->context != NULL && (events & UV_READABLE)) {
        if (p->on_reply != NULL) ci_read_replies(p);
        else redisAsyncHandleRead(p->context);
    }
    if (p->context != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
    if (p->context != NULL) ci_arm(p);
}

static void ci_flush_stop(ci_events *p) {
    uv_check_stop(&p->flush);
    uv_prepare_stop(&p->flush_early);
}

/* Writes what this loop turn's commands queued. */
static void ci_flush(ci_events *p) {
    ci_flush_stop(p);
    if (p->context == NULL || !(p->wanted & UV_WRITABLE)) return;
    redisAsyncHandleWrite(p->context);
    if (p->context == NULL) return; /* the write failed and hiredis freed the context */
    /* hiredis still wants to write: the kernel took only part; wait until it takes more. */
    if (p->wanted & UV_WRITABLE) p->blocked = 1;
    ci_arm(p);
}

static void ci_flush_late(uv_check_t *handle) { ci_flush(handle->data); }
static void ci_flush_soon(uv_prepare_t *handle) { ci_flush(handle->data); }

static void ci_add_read(void *data) { ci_events *p = data; p->wanted |= UV_READABLE; ci_arm(p); }
static void ci_del_read(void *data) { ci_events *p = data; p->wanted &= ~UV_READABLE; ci_arm(p); }

static void ci_add_write(void *data) {
    ci_events *p = data;
    p->wanted |= UV_WRITABLE;
    if (!p->blocked && (p->context->c.flags & REDIS_CONNECTED)) {
        uv_check_start(&p->flush, ci_flush_late);
        uv_prepare_start(&p->flush_early, ci_flush_soon);
    }
    ci_arm(p);
}

static void ci_del_write(void *data) {
    ci_events *p = data;
    p->wanted &= ~UV_WRITABLE;
    p->blocked = 0;
    ci_flush_stop(p);
    ci_arm(p);
}

/* The handles' memory lives until their close callbacks; the last one frees the struct. */
static void ci_on_close(uv_handle_t *handle) {
    ci_events *p = handle->data;
    if (--p->open_handles == 0) free(p);
}

static void ci_cleanup(void *data) {
    ci_events *p = data;
    p->context = NULL;
    uv_close((uv_handle_t *)&p->poll, ci_on_close);
    uv_close((uv_handle_t *)&p->flush, ci_on_close);
    uv_close((uv_handle_t *)&p->flush_early, ci_on_close);
}

int ci_redis_libuv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data != NULL) return -1;
    ci_events *p = calloc(1, sizeof(*p));
    if (p == NULL) return -1;
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    uv_check_init(loop, &p->flush); /* these two cannot fail */
    uv_prepare_init(loop, &p->flush_early);
    p->open_handles = 3;
    p->poll.data = p;
    p->flush.data = p;
    p->flush_early.data = p;
    p->context = ac;
    ac->ev.addRead = ci_add_read;
    ac->ev.delRead = ci_del_read;
    ac->ev.addWrite = ci_add_write;
    ac->ev.delWrite = ci_del_write;
    ac->ev.cleanup = ci_cleanup;
    ac->ev.data = p;
    return 0;
}

int ci_redis_libuv_push_mode(redisAsyncContext *ac, ci_reply_handler handler) {
    ci_events *p = ac->ev.data;
    if (p == NULL) return -1;
    p->on_reply = handler;
    /* hiredis' own path still sees the flag: a stray reply there is dropped, never asserted on. */
    ac->c.flags |= REDIS_SUBSCRIBED;
    return 0;
}

int ci_redis_send_raw(redisAsyncContext *ac, int argc, const char **argv, const size_t *argvlen) {
    redisContext *c = &ac->c;
    if (c->flags & (REDIS_DISCONNECTING | REDIS_FREEING)) return REDIS_ERR;
    if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) return REDIS_ERR;
    if (ac->ev.addWrite) ac->ev.addWrite(ac->ev.data);
    return REDIS_OK;
}
