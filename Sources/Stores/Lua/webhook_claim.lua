-- Claims the most overdue delivery: its score becomes the lease's expiry (a worker that dies lets
-- it lapse and the next claim takes it again, with the same event id), and its attempt count goes
-- up. A delivery whose endpoint is gone or disabled is dropped here. KEYS: WebhookKeys.keys.
-- ARGV: lease (ms). Answers {delivery id, job JSON, endpoint JSON, attempt, now} or nil.
local now = now_ms()
for _ = 1, 10 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)
  if #due == 0 then return false end
  local delivery = due[1]
  local job = redis.call('HGET', KEYS[3], delivery)
  local endpoint = job and redis.call('HGET', KEYS[1], cjson.decode(job).endpoint)
  if endpoint and cjson.decode(endpoint).enabled then
    redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), delivery)
    local attempt = redis.call('HINCRBY', KEYS[4], delivery, 1)
    return {delivery, job, endpoint, attempt, now}
  end
  redis.call('ZREM', KEYS[2], delivery)
  redis.call('HDEL', KEYS[3], delivery)
  redis.call('HDEL', KEYS[4], delivery)
  redis.call('HINCRBY', KEYS[5], 'dropped', 1)
end
return false
