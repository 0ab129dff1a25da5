-- ARGV: how many events, newest last.
local s, err = load_session(now_ms(), false)
if not s then return err end
return redis.call('LRANGE', K_HISTORY, -tonumber(ARGV[1]), -1)
