-- Writes the text of a document at a revision as its latest snapshot, unless a newer one is there
-- already (two writers never go back in time). ARGV: the document ('code' or 'notes'), revision,
-- text, length (Unicode scalars), bytes (exact). The exact byte count corrects the stored upper
-- bound: the log entry of that revision holds the bound as it was then, and their difference is
-- how much the bound ran ahead until then.
local doc = DOCUMENTS[ARGV[1]]
local life = redis.call('HMGET', K_SESSION, 'expires_at', 'archive_hold_ms')
local expires = life[1] and keep_until({expires_at = life[1], archive_hold_ms = life[2]})
if not expires then return 0 end
local s = redis.call('HMGET', doc.state, 'revision', 'snapshot_revision', 'layout', 'bytes_drift', 'log_bytes', 'checkpoint_revision')
if not s[1] or s[3] ~= LAYOUT then return 0 end
local revision = tonumber(ARGV[2])
if revision <= tonumber(s[2]) or revision > tonumber(s[1]) then return 0 end
local entry = redis.call('LINDEX', doc.log, revision - tonumber(s[6]) - 1)
if entry then
  local drift = tonumber(cjson.decode(entry).bytes) - tonumber(ARGV[5])
  if drift > tonumber(s[4]) then redis.call('HSET', doc.state, 'bytes_drift', drift) end
end
redis.call('HSET', doc.snapshot, 'revision', revision, 'text', ARGV[3], 'length', ARGV[4], 'bytes', ARGV[5], 'ts', now_ms())
redis.call('PEXPIREAT', doc.snapshot, tonumber(expires))
redis.call('HSET', doc.state, 'snapshot_revision', revision, 'snapshot_log_bytes', s[5])
return 1
