-- Creates cashouts unless their records exist, and delivers their first steps: a batch of
-- creates of one partition and provider in one script (see `crate::batch`). The id is derived
-- from the producer-scoped idempotency key, so the record key is the idempotency record: a taken
-- key is a record already there. Atomic: concurrent duplicates cannot both create. All keys share
-- the partition's hash tag.
-- KEYS[1] due zset, KEYS[2] stream, then each item's record
-- ARGV per item (7): id, record json, version, first history line, due (ms), redelivery
-- deadline (ms), '1' to deliver now
-- Returns per item {1} created, {0, json} the key was taken (the existing record's JSON,
-- without its history lines), {2} the key was taken by a record whose header is malformed.
local out = {}
local z = {}
for i = 1, #KEYS - 2 do
  local a = (i - 1) * 7
  local id, json, version, line = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local due, deadline, now = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local record = KEYS[i + 2]
  local created = redis.call('SET', record,
    header(tonumber(version), due, 0, 0, NO_TOKEN) .. json .. '\n' .. line, 'NX')
  if not created then
    -- A key of another type must not abort the batch: that item alone is refused.
    local v = redis.pcall('GET', record)
    if type(v) ~= 'string' or not valid_header(v) then
      out[i] = {2}
    else
      out[i] = {0, json_of(v)}
    end
  else
    if now == '1' then
      redis.call('XADD', KEYS[2], '*', 'id', id)
      z[#z + 1] = deadline
    else
      z[#z + 1] = due
    end
    z[#z + 1] = id
    out[i] = {1}
  end
end
-- Batches are bounded (`crate::batch`), far below what `unpack` refuses.
if #z > 0 then
  redis.call('ZADD', KEYS[1], unpack(z))
end
return out
