-- KEYS: NodeKeys.runners (zset id -> lease expiry ms), NodeKeys.runnerInfo (hash id -> JSON
-- with a "languages" array of ids). Answers the language ids some live runner offers.
local now = now_ms()
local seen, out = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local ok, info = pcall(cjson.decode, raw)
    if ok and type(info.languages) == 'table' then
      for _, language in ipairs(info.languages) do
        local lid = type(language) == 'table' and language.id or language
        if type(lid) == 'string' and not seen[lid] then seen[lid] = true table.insert(out, lid) end
      end
    end
  end
end
return out
