-- Shared by every budget script. Keys of one period share a hash tag, so each
-- script runs on one node, Redis Cluster included:
--   state     hash: spent, reserved (integer micro-USD), window (ms), epoch
--   resv      hash: call id -> reserved amount
--   resv_exp  zset: call id -> expiry (ms)
-- Amounts stay below 2^53, so Lua's doubles hold them exactly; amounts are
-- written back from the original strings or with HINCRBY, never via tostring.

local function num(v)
  if v then return tonumber(v) end
  return 0
end

-- Subtracts the integer string `amount` from a hash field ('-0' is not an
-- integer to Redis, and tostring would round large amounts).
local function decr(key, field, amount)
  if tonumber(amount) ~= 0 then
    redis.call('HINCRBY', key, field, '-' .. amount)
  end
end

-- Frees reservations whose router died before settling (bounded per call).
local function sweep(state, resv, resv_exp, now)
  local expired = redis.call('ZRANGEBYSCORE', resv_exp, '-inf', now, 'LIMIT', 0, 256)
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', resv, id)
    if amount then
      redis.call('HDEL', resv, id)
      decr(state, 'reserved', amount)
    end
    redis.call('ZREM', resv_exp, id)
  end
end

local function totals(state)
  return num(redis.call('HGET', state, 'spent')), num(redis.call('HGET', state, 'reserved'))
end
