-- Forgets a dead gateway once its sessions are swept. KEYS as gateway_heartbeat.lua (of the dead
-- one). ARGV: instance id.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
