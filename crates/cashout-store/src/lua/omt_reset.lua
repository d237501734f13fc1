-- OMT's count is back at zero after a success: so is ours, but only while the account is still
-- ours. A holder whose account lease lapsed may be racing a newer holder, whose reservation
-- (made after our success) must stay counted: then only our own reservation goes.
-- KEYS[1] counted failures, KEYS[2] reservations hash, KEYS[3] account lease
-- ARGV[1] our lease token, ARGV[2] our reservation token
-- Returns 1 when the account was reset, 0 when only our reservation was removed.
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
redis.call('HDEL', KEYS[2], ARGV[2])
return 0
