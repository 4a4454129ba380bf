-- KEYS: state, resv, resv_exp
-- ARGV: window start ms, epoch if the state is absent, keys expire at ms, now ms
local state, resv, resv_exp = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HEXISTS', state, 'epoch') == 0 then
  local reserved = 0
  for _, amount in ipairs(redis.call('HVALS', resv)) do
    reserved = reserved + tonumber(amount)
  end
  redis.call('HSET', state, 'reserved', reserved, 'epoch', ARGV[2])
end
sweep(state, resv, resv_exp, tonumber(ARGV[4]))
-- Calls in flight keep their reservations; they settle into the new window.
redis.call('HSET', state, 'spent', 0, 'window', ARGV[1])
redis.call('PEXPIREAT', state, ARGV[3])
local spent, reserved = totals(state)
return {'present', spent, reserved, redis.call('HLEN', resv), tonumber(ARGV[1]), redis.call('HGET', state, 'epoch')}
