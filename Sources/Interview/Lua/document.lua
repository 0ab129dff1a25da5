-- Reads a text base and the log entries after it, for the reader to apply (Documents in Swift).
-- The base depends on what is read first, so this is one script, not two commands.
-- ARGV: 'snapshot' (the latest text) or 'checkpoint' (where the log starts), most entries ('' for
-- all). Answers {layout, base revision, base text, log entries after it...}; for a session of the
-- previous layout {'1', revision, text} (the text in the session hash).
local base = redis.call('HMGET', ARGV[1] == 'checkpoint' and K_CHECKPOINT or K_SNAPSHOT, 'revision', 'text')
if not base[1] then
  local legacy = redis.call('HMGET', K_SESSION, 'revision', 'code')
  if not legacy[1] then
    local gone = redis.call('GET', K_GONE)
    if gone then return redis.error_reply('GONE ' .. gone) end
    return redis.error_reply('NOTFOUND')
  end
  return {'1', legacy[1], legacy[2] or ''}
end
local s = {checkpoint_revision = redis.call('HGET', K_SESSION, 'checkpoint_revision') or base[1]}
local after = tonumber(base[1])
local entries
if ARGV[2] ~= '' then
  entries = log_range(s, after, after + tonumber(ARGV[2]))
else
  entries = log_range(s, after)
end
table.insert(entries, 1, base[2])
table.insert(entries, 1, base[1])
table.insert(entries, 1, LAYOUT)
return entries
