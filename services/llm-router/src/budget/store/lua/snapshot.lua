-- KEYS: state, resv, resv_exp
-- ARGV: now ms
local state, resv, resv_exp = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', state, 'epoch')
if not epoch then
  return {'absent'}
end
sweep(state, resv, resv_exp, tonumber(ARGV[1]))
local spent, reserved = totals(state)
return {'present', spent, reserved, redis.call('HLEN', resv), num(redis.call('HGET', state, 'window')), epoch}
