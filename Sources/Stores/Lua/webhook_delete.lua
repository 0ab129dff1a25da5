-- Deletes an endpoint and its attempt log; its queued deliveries are dropped when claimed (the
-- endpoint is gone). KEYS: WebhookKeys.keys, then WebhookKeys.log(id). ARGV: endpoint id.
-- Answers 1, or NOTFOUND.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return redis.error_reply('NOTFOUND') end
redis.call('DEL', KEYS[6])
return 1
