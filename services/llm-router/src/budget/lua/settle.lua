-- Settles a batch of calls of one period in one round trip.
-- KEYS: state, resv, resv_exp, then each call's tombstone (done) key
-- ARGV: now ms, tombstone ttl ms, then per call: request id, actual,
--       expected epoch ('' = any), release only ('1': free the reservation if
--       held; no spend, no tombstone, so the caller may retry the request id)
-- Returns one reply per call, in order.
local state, resv, resv_exp = KEYS[1], KEYS[2], KEYS[3]
local calls = #KEYS - 3
local replies = {}

local epoch = redis.call('HGET', state, 'epoch')
if not epoch then
  for i = 1, calls do replies[i] = {'needs_rebuild'} end
  return replies
end
sweep(state, resv, resv_exp, tonumber(ARGV[1]))
local tombstone_ttl = ARGV[2]

-- Frees the call's reservation; returns 1 if it held one.
local function release(id)
  local held = redis.call('HGET', resv, id)
  if not held then return 0 end
  redis.call('HDEL', resv, id)
  redis.call('ZREM', resv_exp, id)
  redis.call('HINCRBY', state, 'reserved', '-' .. held)
  return 1
end

local function settle(id, actual, expected, release_only, done)
  if release_only == '1' then
    local had = release(id)
    local spent, reserved = totals(state)
    return {'settled', spent, reserved, had}
  end
  if redis.call('EXISTS', done) == 1 then
    local spent, reserved = totals(state)
    return {'already_settled', spent, reserved}
  end
  local had = release(id)
  redis.call('SET', done, actual, 'PX', tombstone_ttl)
  if expected ~= '' and expected ~= epoch then
    return {'stale'}
  end
  local spent = redis.call('HINCRBY', state, 'spent', actual)
  local _, reserved = totals(state)
  return {'settled', spent, reserved, had}
end

for i = 1, calls do
  local a = 3 + (i - 1) * 4
  replies[i] = settle(ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], KEYS[3 + i])
end
return replies
