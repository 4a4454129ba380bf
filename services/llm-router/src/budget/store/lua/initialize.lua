-- KEYS: state, resv, resv_exp
-- ARGV: spent, window start ms, new epoch, keys expire at ms
local state, resv, resv_exp = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HEXISTS', state, 'epoch') == 1 then
  return 0
end
-- Normally empty; counts whatever reservations survived a partial loss.
local reserved = 0
for _, amount in ipairs(redis.call('HVALS', resv)) do
  reserved = reserved + tonumber(amount)
end
redis.call('HSET', state, 'spent', ARGV[1], 'reserved', reserved, 'window', ARGV[2], 'epoch', ARGV[3])
redis.call('PEXPIREAT', state, ARGV[4])
return 1
