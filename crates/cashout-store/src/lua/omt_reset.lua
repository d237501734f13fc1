-- A success: OMT's count is back at zero. Ours follows as far as it safely can:
-- * our own reservation goes;
-- * while the account is still ours, the failures OMT had answered when our call was sent
--   (ARGV[3]) are taken off; one answered later may have reached OMT after our success;
-- * reservations of other calls that were sent and never answered stay counted, unless they
--   were sent more than ARGV[4] ms ago (the longest a request can still be on its way, plus
--   our call's timeout): such a request reached OMT before our success, whose reset covered it.
--   A younger one may still reach OMT after the success (a slow network, a proxy holding it),
--   and OMT would count it then.
-- A holder whose account lease lapsed may be racing a newer holder: then only its own
-- reservation goes.
-- KEYS[1] counted failures, KEYS[2] reservations hash, KEYS[3] account lease
-- ARGV[1] our lease token, ARGV[2] our reservation token, ARGV[3] failures when sent,
-- ARGV[4] age in ms past which an unanswered request cannot still arrive ('0': never)
-- Returns 1 when the account was reset as far as it safely can, 0 when only our reservation
-- was removed.
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return 0
end
local snap = tonumber(ARGV[3]) or 0
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur <= snap then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECRBY', KEYS[1], snap)
end
local transit = tonumber(ARGV[4]) or 0
if transit > 0 then
  local t = redis.call('TIME')
  local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - transit
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local phase, at = string.match(all[i + 1], '^(%a)|(%d+)|')
    if phase == 's' and tonumber(at) < cutoff then
      redis.call('HDEL', KEYS[2], all[i])
    end
  end
end
return 1
