-- ARGV: presented token hash, gone_retention_ms.
local now = now_ms()
local s, err = load_session(now, true)
if not s then return err end
local denied = require_host(s, ARGV[1], 'deleting a session')
if denied then return denied end
redis.call('DEL', K_SESSION, K_PARTICIPANTS, K_TOKENS, K_HISTORY, K_LEGACY_OPS, K_PRESENCE, K_LOG, K_SNAPSHOT, K_CHECKPOINT,
  K_NOTES, K_NOTES_LOG, K_NOTES_SNAPSHOT, K_NOTES_CHECKPOINT, K_QUESTION)
publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. ',"deleted":true}', now))
redis.call('SET', K_GONE, 'deleted', 'PXAT', tonumber(s.expires_at) + tonumber(ARGV[2]))
return 1
