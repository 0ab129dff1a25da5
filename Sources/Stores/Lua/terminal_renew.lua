-- KEYS: the session's terminal (hash), its input stream. ARGV: job id, ttl ms, '1' to end it.
-- Renews (or, ending, deletes) both while job is the session's live interactive run: 1; else 0.
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
