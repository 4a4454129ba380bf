-- KEYS: the outbox stream, the rejected stream.
-- ARGV: triples (entry id or '' when not in the outbox, record JSON, reason).
-- Copy, then delete, atomically.
local moved = 0
for i = 1, #ARGV, 3 do
  redis.call('XADD', KEYS[2], '*', 'record', ARGV[i + 1], 'reason', ARGV[i + 2], 'outbox_id', ARGV[i])
  if ARGV[i] ~= '' then
    redis.call('XDEL', KEYS[1], ARGV[i])
  end
  moved = moved + 1
end
return moved
