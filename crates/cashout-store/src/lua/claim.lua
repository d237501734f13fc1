-- Takes a cashout for one delivery, in one step: reads the record, checks that a step is due,
-- takes the lease (fields of the record) and counts the delivery.
-- KEYS[1] record hash
-- ARGV[1] now (ms), ARGV[2] early tolerance (ms), ARGV[3] lease token, ARGV[4] lease (ms),
-- ARGV[5] '1' to require a due step, ARGV[6] '1' to count a delivery
-- Returns {0} missing, {1} not due, {2, data, lease_until} leased by another,
-- {3, data, version, deliveries}.
local r = redis.call('HMGET', KEYS[1], 'data', 'version', 'deliveries', 'due', 'lease', 'lease_until')
if not r[1] then
  return {0}
end
local now = tonumber(ARGV[1])
if ARGV[5] == '1' then
  local due = tonumber(r[4] or '')
  if not due or due > now + tonumber(ARGV[2]) then
    return {1}
  end
end
if r[5] and r[5] ~= '' and r[5] ~= ARGV[3] and tonumber(r[6] or '0') > now then
  return {2, r[1], r[6]}
end
local n = tonumber(r[3] or '0')
if ARGV[6] == '1' then
  n = n + 1
  redis.call('HSET', KEYS[1], 'lease', ARGV[3], 'lease_until', now + tonumber(ARGV[4]), 'deliveries', n)
else
  redis.call('HSET', KEYS[1], 'lease', ARGV[3], 'lease_until', now + tonumber(ARGV[4]))
end
return {3, r[1], r[2], n}
