-- ARGV: ttl_ms, name, code, code length (Unicode scalars), language, max_participants,
-- host_token_hash, history_limit, gone_retention_ms, archive_hold_ms ('' when the session is not
-- archived), then optionally the creator: id, name, color, token_hash. The initial text is the
-- snapshot and the checkpoint at revision 0. An archived session's keys outlive expires_at by its
-- hold (keep_until in the prelude), so the archiver finds them however long PostgreSQL is away.
local now = now_ms()
if redis.call('EXISTS', K_SESSION) == 1 or redis.call('EXISTS', K_GONE) == 1 then
  return redis.error_reply('CONFLICT session id already in use')
end
local expires = now + tonumber(ARGV[1])
local hold = ARGV[10] ~= '' and tonumber(ARGV[10]) or nil
local keep = expires + (hold or 0)
local limit = tonumber(ARGV[8])
local code, length = ARGV[3], tonumber(ARGV[4])
redis.call('HSET', K_SESSION, 'id', string.match(K_SESSION, '{(.*)}'), 'name', ARGV[2], 'language', ARGV[5],
  'revision', 0, 'status', 'active', 'created_at', now, 'updated_at', now, 'expires_at', expires,
  'max_participants', ARGV[6], 'host_token_hash', ARGV[7], 'layout', LAYOUT, 'length', length,
  'bytes_raw', #code, 'bytes_drift', 0, 'log_bytes', 0, 'snapshot_revision', 0, 'snapshot_log_bytes', 0,
  'checkpoint_revision', 0)
if hold then redis.call('HSET', K_SESSION, 'archive_hold_ms', hold) end
redis.call('HSET', K_SNAPSHOT, 'revision', 0, 'text', code, 'length', length, 'bytes', #code, 'ts', now)
redis.call('HSET', K_CHECKPOINT, 'revision', 0, 'text', code, 'length', length, 'bytes', #code, 'ts', now,
  'reason', 'created', 'folded_ops', 0, 'folded_bytes', 0, 'authors', '{}')
for _, key in ipairs({K_SESSION, K_SNAPSHOT, K_CHECKPOINT}) do redis.call('PEXPIREAT', key, keep) end
redis.call('SET', K_GONE, 'expired', 'PXAT', keep + tonumber(ARGV[9]))
push_history({type = 'created', at = now, language = ARGV[5]}, limit, keep)
if ARGV[11] and ARGV[11] ~= '' then
  local p = {id = ARGV[11], name = ARGV[12], role = 'interviewer', color = ARGV[13], joined_at = now, token_hash = ARGV[14]}
  add_participant(p, keep)
  push_history({type = 'joined', at = now, user_id = p.id, name = p.name, role = p.role}, limit, keep)
end
return view(load_session(now, true))
