-- Adds a question to the library, or replaces one (POST / PUT /questions). KEYS: LibraryKeys.keys
-- (the index: ZSET id -> updated_at; the summaries: HASH id -> summary JSON; the question's
-- string). ARGV: id, 'create' or 'replace', the question JSON and its summary JSON (objects the
-- gateway built; this script only puts id, created_at and updated_at in front of their members,
-- so created_at is read back from a summary's front), the library's cap (the most questions).
-- Answers {created_at, updated_at}. Errors: FULL <cap> (create), NOTFOUND (replace).
local now = now_ms()
local id = ARGV[1]
local summary = redis.call('HGET', KEYS[2], id)
local created = now
if ARGV[2] == 'create' then
  if summary then return redis.error_reply('CONFLICT question ' .. id .. ' exists') end
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return redis.error_reply('FULL ' .. ARGV[5]) end
else
  if not summary then return redis.error_reply('NOTFOUND') end
  created = tonumber(string.match(summary, '^{"id":"[^"]*","created_at":(%d+)'))
end
local head = '{"id":"' .. id .. '","created_at":' .. created .. ',"updated_at":' .. now .. ','
redis.call('SET', KEYS[3], head .. string.sub(ARGV[3], 2))
redis.call('HSET', KEYS[2], id, head .. string.sub(ARGV[4], 2))
redis.call('ZADD', KEYS[1], now, id)
return {created, now}
