-- Registers a webhook endpoint, refusing past the cap. KEYS: WebhookKeys.keys. ARGV: endpoint id,
-- its JSON, the most endpoints. Answers 1, or FULL <cap>.
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return redis.error_reply('FULL ' .. ARGV[3]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
