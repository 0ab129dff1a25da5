-- Reads a document's text base and the log entries after it, for the reader to apply (Documents in
-- Swift). The base depends on what is read first, so this is one script, not two commands. It
-- stands alone, without the session prelude: a read on every welcome and GET, it defines nothing
-- it does not use. KEYS as every session script (session_keys in lib.lua). ARGV: the document
-- ('code': the state in the session hash, its log, snapshot and checkpoint; 'notes': the notes'
-- four), 'snapshot' (the
-- latest text), 'checkpoint' (where the log starts) or 'revision' (the text at ARGV[4]: the
-- snapshot if it is not newer, else the checkpoint, and the entries up to ARGV[4]), most entries
-- ('' for all). Answers {layout, base revision, base text, log entries after it...}; for a session
-- of the previous layout {'1', revision, text} (the text in the session hash); for notes never
-- written {'2', 0, ''}. A revision older than the checkpoint answers the checkpoint alone (the
-- caller says what is missing).
local notes = ARGV[1] == 'notes'
local SK = session_keys(KEYS)
local K_STATE, K_LOG, K_SNAPSHOT, K_CHECKPOINT = SK.session, SK.log, SK.snapshot, SK.checkpoint
-- An archived session's keys outlive its end (deleted, or expires_at passed) until the archiver
-- has its record: live readers get 410 as they did when the keys went at once. (A session without
-- a hold still expires with its keys: no clock is read for it.)
local life = redis.call('HMGET', SK.session, 'archive_hold_ms', 'status', 'expires_at')
if life[1] then
  if life[2] == 'deleted' then return redis.error_reply('GONE deleted') end
  if tonumber(life[3]) <= now_ms() then return redis.error_reply('GONE expired') end
end
if notes then K_STATE, K_LOG, K_SNAPSHOT, K_CHECKPOINT = SK.notes, SK.notes_log, SK.notes_snapshot, SK.notes_checkpoint end
local base = redis.call('HMGET', ARGV[2] == 'checkpoint' and K_CHECKPOINT or K_SNAPSHOT, 'revision', 'text')
local last
if ARGV[2] == 'revision' then
  last = tonumber(ARGV[4])
  if base[1] and tonumber(base[1]) > last then
    base = redis.call('HMGET', K_CHECKPOINT, 'revision', 'text')
    if base[1] and tonumber(base[1]) > last then return {'2', base[1], base[2]} end
  end
end
if not base[1] then
  local legacy = redis.call('HMGET', SK.session, 'revision', 'code')
  if not legacy[1] then return gone_or_not_found(SK.gone) end
  if notes then return {'2', '0', ''} end
  return {'1', legacy[1], legacy[2] or ''}
end
-- Element i of the log is revision checkpoint_revision + 1 + i (log_range in the prelude).
local offset = tonumber(redis.call('HGET', K_STATE, 'checkpoint_revision') or base[1]) + 1
local start = tonumber(base[1]) + 1 - offset
local count = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil
if last then
  local through = last - tonumber(base[1])
  if not count or through < count then count = through end
end
local entries = {}
-- (an empty range is asked as none: LRANGE's stop -1 would mean the whole log)
if not count then
  entries = redis.call('LRANGE', K_LOG, start, -1)
elseif count > 0 then
  entries = redis.call('LRANGE', K_LOG, start, start + count - 1)
end
table.insert(entries, 1, base[2])
table.insert(entries, 1, base[1])
table.insert(entries, 1, '2')
return entries
