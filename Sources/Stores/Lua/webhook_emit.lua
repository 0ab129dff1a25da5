-- One event: a delivery job for each enabled endpoint subscribed to its type, due now. Work is
-- proportional to the endpoints (at most the cap). A full queue drops the deliveries (counted as
-- `dropped`) rather than growing without bound. KEYS: WebhookKeys.keys. ARGV: event id, type,
-- the payload (JSON text), the most queued deliveries, and an endpoint id to send it to that one
-- alone, whatever its events ('' for every subscriber: the test route's ping). Answers {queued,
-- dropped}.
local now = now_ms()
local all = redis.call('HGETALL', KEYS[1])
local queued, dropped = 0, 0
local size = redis.call('ZCARD', KEYS[2])
for i = 1, #all, 2 do
  local e = cjson.decode(all[i + 1])
  local wanted = false
  if ARGV[5] ~= '' then
    wanted = e.enabled and all[i] == ARGV[5]
  elseif e.enabled then
    for _, t in ipairs(e.events) do
      if t == ARGV[2] or t == '*' then wanted = true end
    end
  end
  if wanted then
    if size >= tonumber(ARGV[4]) then
      dropped = dropped + 1
    else
      local delivery = ARGV[1] .. ':' .. all[i]
      redis.call('HSET', KEYS[3], delivery, cjson.encode({endpoint = all[i], event = ARGV[1], type = ARGV[2], body = ARGV[3]}))
      redis.call('ZADD', KEYS[2], 'NX', now, delivery)
      size = size + 1
      queued = queued + 1
    end
  end
end
if dropped > 0 then redis.call('HINCRBY', KEYS[5], 'dropped', dropped) end
return {queued, dropped}
