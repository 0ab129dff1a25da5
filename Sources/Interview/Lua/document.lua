-- Reads a text base and the log entries after it, for the reader to apply (Documents in Swift).
-- The base depends on what is read first, so this is one script, not two commands. It stands
-- alone, without the prelude: a read on every welcome and GET, it defines nothing it does not use.
-- KEYS as every session script (prelude.lua). ARGV: 'snapshot' (the latest text) or 'checkpoint'
-- (where the log starts), most entries ('' for all). Answers {layout, base revision, base text,
-- log entries after it...}; for a session of the previous layout {'1', revision, text} (the text
-- in the session hash).
local base = redis.call('HMGET', ARGV[1] == 'checkpoint' and KEYS[10] or KEYS[9], 'revision', 'text')
if not base[1] then
  local legacy = redis.call('HMGET', KEYS[1], 'revision', 'code')
  if not legacy[1] then
    local gone = redis.call('GET', KEYS[5])
    if gone then return redis.error_reply('GONE ' .. gone) end
    return redis.error_reply('NOTFOUND')
  end
  return {'1', legacy[1], legacy[2] or ''}
end
-- Element i of the log is revision checkpoint_revision + 1 + i (log_range in the prelude).
local offset = tonumber(redis.call('HGET', KEYS[1], 'checkpoint_revision') or base[1]) + 1
local start = tonumber(base[1]) + 1 - offset
local stop = ARGV[2] ~= '' and (start + tonumber(ARGV[2]) - 1) or -1
local entries = redis.call('LRANGE', KEYS[8], start, stop)
table.insert(entries, 1, base[2])
table.insert(entries, 1, base[1])
table.insert(entries, 1, '2')
return entries
