-- OMT's count is back at zero after a success: so is the count of failures OMT answered, while
-- the account is still ours. Reservations of other calls that were sent and never answered
-- stay: such a request may still reach OMT after the success (a slow network, a proxy holding
-- it), and OMT would count it then. They stay listed until an answer or an operator settles
-- them. A holder whose account lease lapsed may be racing a newer holder: then only its own
-- reservation goes.
-- KEYS[1] counted failures, KEYS[2] reservations hash, KEYS[3] account lease
-- ARGV[1] our lease token, ARGV[2] our reservation token
-- Returns 1 when the failures were reset, 0 when only our reservation was removed.
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
