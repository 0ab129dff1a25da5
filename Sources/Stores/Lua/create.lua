-- ARGV: ttl_ms, name, code, code length (Unicode scalars), language, max_participants,
-- host_token_hash, history_limit, gone_retention_ms, then optionally the creator: id, name,
-- color, token_hash. The initial text is the snapshot and the checkpoint at revision 0.
local now = now_ms()
if redis.call('EXISTS', K_SESSION) == 1 or redis.call('EXISTS', K_GONE) == 1 then
  return redis.error_reply('CONFLICT session id already in use')
end
local expires = now + tonumber(ARGV[1])
local limit = tonumber(ARGV[8])
local code, length = ARGV[3], tonumber(ARGV[4])
redis.call('HSET', K_SESSION, 'id', string.match(K_SESSION, '{(.*)}'), 'name', ARGV[2], 'language', ARGV[5],
  'revision', 0, 'status', 'active', 'created_at', now, 'updated_at', now, 'expires_at', expires,
  'max_participants', ARGV[6], 'host_token_hash', ARGV[7], 'layout', LAYOUT, 'length', length,
  'bytes_raw', #code, 'bytes_drift', 0, 'log_bytes', 0, 'snapshot_revision', 0, 'snapshot_log_bytes', 0,
  'checkpoint_revision', 0)
redis.call('HSET', K_SNAPSHOT, 'revision', 0, 'text', code, 'length', length, 'bytes', #code, 'ts', now)
redis.call('HSET', K_CHECKPOINT, 'revision', 0, 'text', code, 'length', length, 'bytes', #code, 'ts', now,
  'reason', 'created', 'folded_ops', 0, 'folded_bytes', 0, 'authors', '{}')
for _, key in ipairs({K_SESSION, K_SNAPSHOT, K_CHECKPOINT}) do redis.call('PEXPIREAT', key, expires) end
redis.call('SET', K_GONE, 'expired', 'PXAT', expires + tonumber(ARGV[9]))
push_history({type = 'created', at = now, language = ARGV[5]}, limit, expires)
if ARGV[10] and ARGV[10] ~= '' then
  local p = {id = ARGV[10], name = ARGV[11], role = 'interviewer', color = ARGV[12], joined_at = now, token_hash = ARGV[13]}
  add_participant(p, expires)
  push_history({type = 'joined', at = now, user_id = p.id, name = p.name, role = p.role}, limit, expires)
end
return view(load_session(now, true))
