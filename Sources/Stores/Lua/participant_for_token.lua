-- A participant for a participant token (rejoining). ARGV: token hash.
local s, err = load_session(now_ms(), false)
if not s then return err end
local id = redis.call('HGET', K_TOKENS, ARGV[1])
if not id then return redis.error_reply('FORBIDDEN this participant token does not belong to this session') end
local p = cjson.decode(redis.call('HGET', K_PARTICIPANTS, id))
p.token_hash = nil
return cjson.encode(p)
