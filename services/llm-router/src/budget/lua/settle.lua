-- KEYS: state, resv, resv_exp, done (this request's tombstone)
-- ARGV: request id, actual, now ms, expected epoch ('' = any), tombstone ttl ms,
--       release only ('1': free the reservation if held; no spend, no tombstone)
local state, resv, resv_exp, done = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]

local epoch = redis.call('HGET', state, 'epoch')
if not epoch then
  return {'needs_rebuild'}
end
sweep(state, resv, resv_exp, tonumber(ARGV[3]))
if ARGV[6] == '1' then
  local held = redis.call('HGET', resv, id)
  if held then
    redis.call('HDEL', resv, id)
    redis.call('ZREM', resv_exp, id)
    redis.call('HINCRBY', state, 'reserved', '-' .. held)
  end
  local spent, reserved = totals(state)
  local had = 0
  if held then had = 1 end
  return {'settled', spent, reserved, had}
end
if redis.call('EXISTS', done) == 1 then
  local spent, reserved = totals(state)
  return {'already_settled', spent, reserved}
end
local held = redis.call('HGET', resv, id)
if held then
  redis.call('HDEL', resv, id)
  redis.call('ZREM', resv_exp, id)
  redis.call('HINCRBY', state, 'reserved', '-' .. held)
end
redis.call('SET', done, ARGV[2], 'PX', ARGV[5])
if ARGV[4] ~= '' and ARGV[4] ~= epoch then
  return {'stale'}
end
local spent = redis.call('HINCRBY', state, 'spent', ARGV[2])
local _, reserved = totals(state)
local had = 0
if held then had = 1 end
return {'settled', spent, reserved, had}
