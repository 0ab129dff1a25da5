#include <hiredis/hiredis.h>
#include <hiredis/async.h>
// The libuv adapter is a header of static functions; Swift imports them directly.
#include <hiredis/adapters/libuv.h>
