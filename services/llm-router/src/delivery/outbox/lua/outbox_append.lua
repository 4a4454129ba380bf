-- KEYS: the outbox stream. ARGV: one JSON usage record each.
-- One script so a batch is appended atomically (all or none) in one round trip.
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'record', ARGV[i])
end
return #ARGV
