-- Settles a batch of calls of one period in one round trip.
-- KEYS: state, resv, resv_exp, then each call's tombstone (done) key
-- ARGV: now ms, tombstone ttl ms, then per call: call id, actual,
--       expected epoch ('' = any), release only ('1': free what the call
--       holds; no spend, no tombstone, so the caller may retry the call id),
--       slice id ('' = the call holds a reservation of its own), slice part
-- Returns one reply per call, in order.
local state, resv, resv_exp = KEYS[1], KEYS[2], KEYS[3]
local per_call = 6
local calls = #KEYS - 3
local replies = {}

local epoch = redis.call('HGET', state, 'epoch')
if not epoch then
  for i = 1, calls do replies[i] = {'needs_rebuild'} end
  return replies
end
sweep(state, resv, resv_exp, tonumber(ARGV[1]))
local tombstone_ttl = ARGV[2]

-- Frees the call's own reservation; returns 1 if it held one.
local function release(id)
  local held = redis.call('HGET', resv, id)
  if not held then return 0 end
  redis.call('HDEL', resv, id)
  redis.call('ZREM', resv_exp, id)
  decr(state, 'reserved', held)
  return 1
end

-- Frees `part` of a slice (all of it when less is left); 1 if the slice is held.
local function release_part(slice, part)
  local held = redis.call('HGET', resv, slice)
  if not held then return 0 end
  if tonumber(held) <= tonumber(part) then
    return release(slice)
  end
  decr(resv, slice, part)
  decr(state, 'reserved', part)
  return 1
end

local function charge(actual, expected, had, tag)
  if expected ~= '' and expected ~= epoch then
    return {'stale'}
  end
  local spent = redis.call('HINCRBY', state, 'spent', actual)
  local _, reserved = totals(state)
  return {tag, spent, reserved, had}
end

local function settle(id, actual, expected, release_only, done, slice, part)
  local had
  if slice ~= '' then had = release_part(slice, part) else had = release(id) end
  if release_only == '1' then
    local spent, reserved = totals(state)
    return {'settled', spent, reserved, had}
  end
  if redis.call('EXISTS', done) == 1 then
    -- Released budget held for this call, yet its id is settled: another call
    -- under the same id settled first. Both reached a provider; count both.
    -- (A slice part is only sent on a call's first settle.)
    if slice ~= '' or had == 1 then
      return charge(actual, expected, had, 'duplicate')
    end
    local spent, reserved = totals(state)
    return {'already_settled', spent, reserved}
  end
  redis.call('SET', done, actual, 'PX', tombstone_ttl)
  return charge(actual, expected, had, 'settled')
end

for i = 1, calls do
  local a = 3 + (i - 1) * per_call
  replies[i] = settle(ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], KEYS[3 + i],
    ARGV[a + 4], ARGV[a + 5])
end
return replies
