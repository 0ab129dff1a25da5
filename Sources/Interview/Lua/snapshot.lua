-- Writes the text at a revision as the latest snapshot, unless a newer one is there already (two
-- writers never go back in time). ARGV: revision, text, length (Unicode scalars), bytes (exact).
-- The exact byte count corrects the stored upper bound: the log entry of that revision holds the
-- bound as it was then, and their difference is how much the bound ran ahead until then.
local s = redis.call('HMGET', K_SESSION, 'revision', 'snapshot_revision', 'layout', 'bytes_drift', 'log_bytes', 'expires_at')
if not s[1] or s[3] ~= LAYOUT then return 0 end
local revision = tonumber(ARGV[1])
if revision <= tonumber(s[2]) or revision > tonumber(s[1]) then return 0 end
local cp = redis.call('HGET', K_SESSION, 'checkpoint_revision')
local entry = redis.call('LINDEX', K_LOG, revision - tonumber(cp) - 1)
if entry then
  local drift = tonumber(cjson.decode(entry).bytes) - tonumber(ARGV[4])
  if drift > tonumber(s[4]) then redis.call('HSET', K_SESSION, 'bytes_drift', drift) end
end
redis.call('HSET', K_SNAPSHOT, 'revision', revision, 'text', ARGV[2], 'length', ARGV[3], 'bytes', ARGV[4], 'ts', now_ms())
redis.call('PEXPIREAT', K_SNAPSHOT, tonumber(s[6]))
redis.call('HSET', K_SESSION, 'snapshot_revision', revision, 'snapshot_log_bytes', s[5])
return 1
