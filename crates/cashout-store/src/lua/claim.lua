-- Takes a cashout for one delivery, in one step: reads the record, checks that a step is due,
-- takes the lease and counts the delivery (one in-place write of the header).
-- KEYS[1] record, KEYS[2] (optional) the due zset the delivery came from: kept in step with the
-- record when nothing is done (a missing or finished record leaves it; a step due later is
-- scored at its due time; a busy one no sooner than its holder's lease ends)
-- ARGV[1] now (ms), ARGV[2] early tolerance (ms), ARGV[3] lease token, ARGV[4] lease (ms),
-- ARGV[5] '1' to require a due step, ARGV[6] '1' to count a delivery, ARGV[7] the cashout id
-- Returns {0} missing, {1} not due, {2} leased by another, {3, json (without the history lines),
-- deliveries, the header's lease fields as they were before this claim (to put back if the JSON
-- cannot be decoded)},
-- {4} a malformed header (nothing written).
local due_zset = KEYS[2]
local v = redis.call('GET', KEYS[1])
if not v then
  if due_zset then
    redis.call('ZREM', due_zset, ARGV[7])
  end
  return {0}
end
if not valid_header(v) then
  return {4}
end
local h = parse(v)
local now = tonumber(ARGV[1])
if ARGV[5] == '1' and (not h.due or h.due > now + tonumber(ARGV[2])) then
  if due_zset then
    if not h.due then
      redis.call('ZREM', due_zset, ARGV[7])
    else
      redis.call('ZADD', due_zset, 'XX', h.due, ARGV[7])
    end
  end
  return {1}
end
local tok = redis.sha1hex(ARGV[3])
if h.token ~= NO_TOKEN and h.token ~= tok and h.lease_until > now then
  if due_zset then
    redis.call('ZADD', due_zset, 'XX', 'GT', h.lease_until, ARGV[7])
  end
  return {2}
end
local n = h.deliveries
if ARGV[6] == '1' then
  n = n + 1
end
-- Lease end, deliveries and token sit side by side from offset 26 (0-based).
redis.call('SETRANGE', KEYS[1], 26,
  pad(now + tonumber(ARGV[4]), 13) .. 'N' .. pad(math.min(n, 99999), 5) .. 'T' .. tok)
return {3, json_of(v), n, string.sub(v, 27, 86)}
