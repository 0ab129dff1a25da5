-- KEYS: runners (zset id -> lease expiry), runner-info. Returns {busy, total} over live runners.
local now = now_ms()
local busy, total = 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local ok, info = pcall(cjson.decode, raw)
    if ok then
      busy = busy + (tonumber(info.running) or 0)
      total = total + (tonumber(info.capacity) or 0)
    end
  end
end
return {busy, total}
