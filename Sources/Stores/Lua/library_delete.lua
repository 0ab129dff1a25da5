-- Deletes a question of the library. KEYS: LibraryKeys.keys. ARGV: id. Answers 1, or 0 when
-- there was no such question.
local removed = redis.call('DEL', KEYS[3]) + redis.call('HDEL', KEYS[2], ARGV[1]) + redis.call('ZREM', KEYS[1], ARGV[1])
return removed > 0 and 1 or 0
