-- An operator discards a parked corrupt record: out of the parked zset, the side key rewritten
-- with who and when (compare-and-set on its old value), a history line on the side list, and the
-- record, the side list and the side key expire after the retention. The record's bytes are left
-- as found.
-- KEYS[1] record, KEYS[2] side history list, KEYS[3] parked zset, KEYS[4] corrupt side key
-- ARGV[1] id, ARGV[2] the side key as read, ARGV[3] the side key to write, ARGV[4] history line,
-- ARGV[5] retention (ms) or ''
-- Returns 1 discarded, -1 the side key changed (read again), 0 no side key.
local side = redis.call('GET', KEYS[4])
if not side then
  return 0
end
if side ~= ARGV[2] then
  return -1
end
redis.call('SET', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then
  for i = 1, 4 do
    if i ~= 3 then
      redis.call('PEXPIRE', KEYS[i], ARGV[5])
    end
  end
end
return 1
