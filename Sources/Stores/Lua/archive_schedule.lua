-- Puts a session on the archive queue, or brings its turn forward: ZADD LT never makes an entry
-- later than it was (a create-time entry at expires_at is brought to now when the session ends
-- or is deleted; scheduling again is harmless). KEYS: ArchiveKeys.keys. ARGV: session id, when it
-- is due (Unix ms; '' for now), the queue keys' TTL (ms). Answers the score asked for.
local now = now_ms()
local due = ARGV[2] ~= '' and tonumber(ARGV[2]) or now
redis.call('ZADD', KEYS[1], 'LT', due, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return due
