-- One page of the library, newest first (by updated_at, then by id downwards). KEYS: the index,
-- the summaries. ARGV: the page size, then the cursor: the updated_at and the id of the previous
-- page's last question ('' and '' for the first page). Answers {the next cursor's updated_at and
-- id ('' and '' on the last page), then the page's summaries}. Reads at most the page, plus the
-- questions updated in the cursor's very millisecond.
local limit = tonumber(ARGV[1])
local ids, scores = {}, {}
local function take(pairs)
  for i = 1, #pairs, 2 do
    if #ids > limit then return end
    ids[#ids + 1], scores[#scores + 1] = pairs[i], pairs[i + 1]
  end
end
if ARGV[2] == '' then
  take(redis.call('ZREVRANGE', KEYS[1], 0, limit, 'WITHSCORES'))
else
  -- Members of one score come in reverse id order: those of the cursor's score below its id first.
  local ties = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2], 'WITHSCORES')
  local after = {}
  for i = 1, #ties, 2 do
    if ties[i] < ARGV[3] then
      table.insert(after, ties[i])
      table.insert(after, ties[i + 1])
    end
  end
  take(after)
  if #ids <= limit then
    take(redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1 - #ids))
  end
end
local out = {'', ''}
if #ids > limit then
  ids[#ids], scores[#scores] = nil, nil
  out = {scores[#scores], ids[#ids]}
end
if #ids > 0 then
  for _, summary in ipairs(redis.call('HMGET', KEYS[2], unpack(ids))) do
    if summary then out[#out + 1] = summary end
  end
end
return out
