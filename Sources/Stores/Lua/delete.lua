-- ARGV: presented token hash, gone_retention_ms, history_limit.
-- A session that is archived (its hold stored at create) is marked deleted, not deleted: every
-- live route answers 410 deleted from its status (over in lib.lua) while its keys wait for the
-- archiver, which writes the record (ending: deleted) and then lets them go (archive_release.lua).
local now = now_ms()
local s, err = load_session(now, true)
if not s then return err end
local denied = require_host(s, ARGV[1], 'deleting a session')
if denied then return denied end
if s.archive_hold_ms then
  redis.call('HSET', K_SESSION, 'status', 'deleted', 'updated_at', now, 'deleted_at', now)
  redis.call('DEL', K_PRESENCE)
  push_history({type = 'deleted', at = now}, tonumber(ARGV[3] or '200'), keep_until(s))
  publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. ',"deleted":true}', now))
  redis.call('SET', K_GONE, 'deleted', 'PXAT', keep_until(s) + tonumber(ARGV[2]))
  return 1
end
redis.call('DEL', K_SESSION, K_PARTICIPANTS, K_TOKENS, K_HISTORY, K_LEGACY_OPS, K_PRESENCE, K_LOG, K_SNAPSHOT, K_CHECKPOINT,
  K_NOTES, K_NOTES_LOG, K_NOTES_SNAPSHOT, K_NOTES_CHECKPOINT, K_QUESTION, SK.activity, SK.scorecards, SK.terminal_log)
publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. ',"deleted":true}', now))
redis.call('SET', K_GONE, 'deleted', 'PXAT', tonumber(s.expires_at) + tonumber(ARGV[2]))
return 1
