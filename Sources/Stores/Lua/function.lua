-- One script of the Functions library (RedisFunctions in Swift fills this in once per script):
-- the function binds this call's KEYS and ARGV (and what its layer derives from them), then runs
-- the script's body as it is.
redis.register_function('%FUNCTION%', function(keys, args)
  bind(keys, args, '%LAYER%')
%BODY%
end)
