-- Admits one call to a provider under its limits, shared by every worker.
-- KEYS[1] rate key (string: the earliest time, in µs, the next call may start, GCRA)
-- KEYS[2] in-flight zset (token -> ms when the slot frees itself)
-- ARGV[1] interval between calls in µs (0: no rate limit)
-- ARGV[2] burst (calls that may start back to back)
-- ARGV[3] max in flight (0: no concurrency limit)
-- ARGV[4] token of this call
-- ARGV[5] hold in ms (how long the slot lasts if never released)
-- Returns 0 when admitted (both limits taken), -1 when every slot is taken (ask again soon),
-- or the wait in µs until the rate allows a call. Nothing is taken unless both allow it.
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local interval = tonumber(ARGV[1])
local max = tonumber(ARGV[3])
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[2]) >= max then
    return -1
  end
end
local tat = now_us
if interval > 0 then
  local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
  if stored > tat then tat = stored end
  local tolerance = interval * (tonumber(ARGV[2]) - 1)
  local wait = tat - tolerance - now_us
  if wait > 0 then
    return wait
  end
  local next_at = tat + interval
  local ttl = math.floor((next_at - now_us) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.0f', next_at), 'PX', ttl)
end
if max > 0 then
  local hold = tonumber(ARGV[5])
  redis.call('ZADD', KEYS[2], now_ms + hold, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], hold)
end
return 0
