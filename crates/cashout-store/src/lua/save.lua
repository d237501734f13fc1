-- Compare-and-set writes of cashout records of one partition and provider, each with its
-- indexes, new history lines, next delivery, lease release and the ack of its delivery: a batch
-- of writes in one script, one round trip (see `Store::save`: writes that wait while the
-- previous batch is in flight go together). Each item is decided on its own, in order, exactly
-- as if it were alone; the index changes of the items written are then applied together
-- (`ZREM`, `ZADD`, `XACK` and `HINCRBY` take many members at once). No two items written in one
-- batch are of the same cashout: each expects the version the other would write.
-- Each record is rewritten whole: header, the new JSON, the history lines it had, the new ones.
-- KEYS[1] due zset, KEYS[2] parked zset, KEYS[3] stream, then per item: record, this minute's
-- outcome counts.
-- ARGV[1] consumer group, ARGV[2] now (ms), then per item:
--  expected version, new version, record json, id,
--  due (ms, '' = nothing due: terminal or parked),
--  due zset: '' remove, 'k' keep as is, else the score (ms),
--  parked zset: '' leave, 'r' remove, else the score (ms),
--  '1' when the write completes a step (resets the delivery counter),
--  retention ms for a terminal record ('' = keep: the record's TTL is left as it is; the record
--  is its idempotency key's record too, so nothing else expires with it),
--  '1' to deliver now (XADD),
--  lease token to give back ('' = keep), stream entry to ack ('' = none),
--  outcome to count ('' = none: 'provider:state' when the write finishes the cashout,
--  'provider:parked' when it parks it),
--  the token of a delivery that read the record without a lease ('' = none): refused (2) when
--  somebody else holds a live lease; unless the write completes the step, it takes the lease
--  until the next field (ms),
--  the number of history lines, the lines.
-- Returns one code per item: 1 written, 0 the version changed, 2 leased by somebody else, 3
-- the record's key holds another type.
local now = tonumber(ARGV[2])
local codes = {}
local zrem_due, zadd_due, zrem_parked, zadd_parked, acks = {}, {}, {}, {}, {}
local counts, count_keys = {}, {}
local a = 3
local k = 4
while a <= #ARGV do
  local expected, version, json, id = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local due, due_op, parked_op, completes = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local retention, deliver, give_back, entry = ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11]
  local outcome, take, take_until = ARGV[a + 12], ARGV[a + 13], ARGV[a + 14]
  local nlines = tonumber(ARGV[a + 15])
  local first_line = a + 16
  a = first_line + nlines
  local record, outcomes = KEYS[k], KEYS[k + 1]
  k = k + 2
  local code = 1
  -- A key of another type must not abort the batch (the items before it would lose their index
  -- changes): that item alone is refused.
  local cur = redis.pcall('GET', record)
  if type(cur) == 'table' and cur.err then
    code, cur = 3, false
  end
  if code == 1 and (not cur or #cur < 87 or string.sub(cur, 2, 11) ~= pad(tonumber(expected), 10)) then
    code = 0
  end
  local h, lease_until, token
  if code == 1 then
    h = parse(cur)
    lease_until, token = h.lease_until, h.token
    if take ~= '' then
      local ours = redis.sha1hex(take)
      if token ~= NO_TOKEN and token ~= ours and lease_until > now then
        code = 2
      elseif completes ~= '1' then
        lease_until, token = tonumber(take_until), ours
      end
    end
  end
  if code == 1 then
    local deliveries = h.deliveries
    if completes == '1' then
      deliveries = 0
    end
    if give_back ~= '' and token == redis.sha1hex(give_back) then
      lease_until, token = 0, NO_TOKEN
    end
    local parts = {header(tonumber(version), due, lease_until, deliveries, token), json, tail_of(cur)}
    for i = first_line, first_line + nlines - 1 do
      parts[#parts + 1] = '\n'
      parts[#parts + 1] = ARGV[i]
    end
    if retention ~= '' then
      redis.call('SET', record, table.concat(parts), 'PX', retention)
    else
      redis.call('SET', record, table.concat(parts), 'KEEPTTL')
    end
    if due_op == '' then
      zrem_due[#zrem_due + 1] = id
    elseif due_op ~= 'k' then
      zadd_due[#zadd_due + 1] = due_op
      zadd_due[#zadd_due + 1] = id
    end
    if parked_op == 'r' then
      zrem_parked[#zrem_parked + 1] = id
    elseif parked_op ~= '' then
      zadd_parked[#zadd_parked + 1] = parked_op
      zadd_parked[#zadd_parked + 1] = id
    end
    if outcome ~= '' then
      if not counts[outcomes] then
        counts[outcomes] = {}
        count_keys[#count_keys + 1] = outcomes
      end
      counts[outcomes][outcome] = (counts[outcomes][outcome] or 0) + 1
    end
    if deliver == '1' then
      redis.call('XADD', KEYS[3], '*', 'id', id)
    end
    if entry ~= '' then
      acks[#acks + 1] = entry
    end
  end
  codes[#codes + 1] = code
end
-- Batches are bounded (`Store::save`), far below what `unpack` refuses.
if #zrem_due > 0 then
  redis.call('ZREM', KEYS[1], unpack(zrem_due))
end
if #zadd_due > 0 then
  redis.call('ZADD', KEYS[1], unpack(zadd_due))
end
if #zrem_parked > 0 then
  redis.call('ZREM', KEYS[2], unpack(zrem_parked))
end
if #zadd_parked > 0 then
  redis.call('ZADD', KEYS[2], unpack(zadd_parked))
end
for _, key in ipairs(count_keys) do
  for field, n in pairs(counts[key]) do
    if redis.call('HINCRBY', key, field, n) == n then
      redis.call('PEXPIRE', key, 7200000)
    end
  end
end
if #acks > 0 then
  redis.call('XACK', KEYS[3], ARGV[1], unpack(acks))
end
return codes
