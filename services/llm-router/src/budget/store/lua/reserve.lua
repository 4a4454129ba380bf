-- KEYS: state, resv, resv_exp, done (this request's tombstone)
-- ARGV: call id, amount, limit, block_at, now ms, expires ms, keys expire at ms
local state, resv, resv_exp, done = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, amount = ARGV[1], tonumber(ARGV[2])
local limit, block_at, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local epoch = redis.call('HGET', state, 'epoch')
if not epoch then
  return {'needs_rebuild'}
end
sweep(state, resv, resv_exp, now)
local spent, reserved = totals(state)
if redis.call('EXISTS', done) == 1 then
  return {'already_settled', spent, reserved}
end
if redis.call('HEXISTS', resv, id) == 1 then
  return {'already_reserved', spent, reserved}
end
if spent >= block_at then
  return {'blocked', spent, reserved}
end
if spent + reserved + amount > limit then
  return {'would_exceed', spent, reserved}
end
redis.call('HSET', resv, id, ARGV[2])
redis.call('ZADD', resv_exp, ARGV[6], id)
reserved = redis.call('HINCRBY', state, 'reserved', ARGV[2])
redis.call('PEXPIREAT', resv, ARGV[7])
redis.call('PEXPIREAT', resv_exp, ARGV[7])
return {'admitted', spent, reserved, epoch}
