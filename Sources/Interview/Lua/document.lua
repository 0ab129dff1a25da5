-- Reads a text base and the log entries after it, for the reader to apply (Documents in Swift).
-- The base depends on what is read first, so this is one script, not two commands.
-- ARGV: 'snapshot' (the latest text), 'checkpoint' (where the log starts) or 'revision' (the text
-- at ARGV[3]: the snapshot if it is not newer, else the checkpoint, and the entries up to
-- ARGV[3]), most entries ('' for all). Answers {layout, base revision, base text, log entries
-- after it...}; for a session of the previous layout {'1', revision, text} (the text in the
-- session hash). A revision older than the checkpoint answers the checkpoint alone.
local base = redis.call('HMGET', ARGV[1] == 'checkpoint' and K_CHECKPOINT or K_SNAPSHOT, 'revision', 'text')
local last
if ARGV[1] == 'revision' then
  last = tonumber(ARGV[3])
  if base[1] and tonumber(base[1]) > last then
    base = redis.call('HMGET', K_CHECKPOINT, 'revision', 'text')
    if base[1] and tonumber(base[1]) > last then return {LAYOUT, base[1], base[2]} end
  end
end
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
if ARGV[2] ~= '' then
  local bound = after + tonumber(ARGV[2])
  if not last or bound < last then last = bound end
end
local entries = {}
-- (an empty range asked as such: LRANGE's stop -1 would mean the whole log)
if not last or last > after then entries = log_range(s, after, last) end
table.insert(entries, 1, base[2])
table.insert(entries, 1, base[1])
table.insert(entries, 1, LAYOUT)
return entries
