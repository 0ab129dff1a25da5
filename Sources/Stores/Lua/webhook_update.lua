-- Changes an endpoint: ARGV[2] is a JSON object of the fields to set (url, events, description,
-- enabled). Enabling clears the disabled reason and the failure count. KEYS: WebhookKeys.keys.
-- ARGV: endpoint id, changes JSON, now (ms). Answers the endpoint's JSON, or NOTFOUND.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return redis.error_reply('NOTFOUND') end
local e = cjson.decode(raw)
local c = cjson.decode(ARGV[2])
for _, field in ipairs({'url', 'events', 'description'}) do
  if c[field] ~= nil then e[field] = c[field] end
end
if c.enabled ~= nil then
  e.enabled = c.enabled
  if c.enabled then
    e.disabled_reason = cjson.null
    e.disabled_at = cjson.null
    e.given_up = 0
  else
    e.disabled_reason = 'disabled by the operator'
    e.disabled_at = tonumber(ARGV[3])
  end
end
e.updated_at = tonumber(ARGV[3])
local out = cjson.encode(e)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
