-- Reads a text base and the log entries after it, for the reader to apply (DocumentReader in
-- Swift). The base depends on what is read first, so this is one script, not two commands.
-- ARGV: 'snapshot' (the latest text), 'checkpoint' (where the log starts) or 'revision' (the text at
-- ARGV[3]: the snapshot if it is not newer, else the checkpoint, and the entries up to ARGV[3]),
-- most entries ('' for all). Answers {layout, base revision, base text, entries after it
-- (XRANGE's form)...}; for a session of the previous layout {'1', revision, text} (the text in
-- the session hash). A revision older than the checkpoint answers the checkpoint alone.
local base = redis.call('HMGET', ARGV[1] == 'checkpoint' and K_CHECKPOINT or K_SNAPSHOT, 'revision', 'text')
local last = '+'
if ARGV[1] == 'revision' then
  last = ARGV[3] .. '-0'
  if base[1] and tonumber(base[1]) > tonumber(ARGV[3]) then
    base = redis.call('HMGET', K_CHECKPOINT, 'revision', 'text')
    if base[1] and tonumber(base[1]) > tonumber(ARGV[3]) then return {LAYOUT, base[1], base[2]} end
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
local out = {LAYOUT, base[1], base[2]}
local entries
if ARGV[2] ~= '' then
  entries = redis.call('XRANGE', K_LOG, (tonumber(base[1]) + 1) .. '-0', last, 'COUNT', tonumber(ARGV[2]))
else
  entries = redis.call('XRANGE', K_LOG, (tonumber(base[1]) + 1) .. '-0', last)
end
for _, entry in ipairs(entries) do table.insert(out, entry) end
return out
