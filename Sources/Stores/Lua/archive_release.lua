-- Lets an archived session's room go, once its record is stored: deletes its data keys and
-- leaves its gone marker saying how it ended, so live routes go on answering 410 with the same
-- reason for the gone retention. Stands alone (no prelude). KEYS: SessionKeys.all. ARGV: the gone
-- reason ('ended', 'deleted' or 'expired'), gone_retention_ms, the code's and the notes'
-- revisions the record holds, the count of integrity signals, the scorecards_version and the count of
-- terminal log entries it holds. Answers 1 (released), 0 (its keys were gone already), or CONFLICT
-- when the session is live, or moved past the revisions the record holds (read it again).
local SK = session_keys(KEYS)
local now = now_ms()
local s = redis.call('HMGET', SK.session, 'status', 'expires_at', 'revision', 'scorecards_version')
local released = 0
if s[2] then
  if s[1] ~= 'completed' and s[1] ~= 'deleted' and tonumber(s[2]) > now then
    return redis.error_reply('CONFLICT the session is live')
  end
  if (s[3] or '0') ~= ARGV[3] or (redis.call('HGET', SK.notes, 'revision') or '0') ~= ARGV[4]
      or redis.call('LLEN', SK.activity) ~= tonumber(ARGV[5] or '0') or (s[4] or '0') ~= (ARGV[6] or '0')
      or redis.call('LLEN', SK.terminal_log) ~= tonumber(ARGV[7] or '0') then
    return redis.error_reply('CONFLICT the session changed since it was read')
  end
  released = 1
end
redis.call('DEL', SK.session, SK.participants, SK.tokens, SK.history, SK.legacy_ops, SK.presence, SK.log, SK.snapshot,
  SK.checkpoint, SK.notes, SK.notes_log, SK.notes_snapshot, SK.notes_checkpoint, SK.question, SK.activity, SK.scorecards,
  SK.terminal_log)
local gone_until = math.max(now, tonumber(s[2] or now)) + tonumber(ARGV[2])
redis.call('SET', SK.gone, ARGV[1], 'PXAT', gone_until)
return released
