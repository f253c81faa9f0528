--[[
  counts: how many messages a queue holds in each state, from the sizes of its keys
  (read-only; no message is read).

  KEYS[1]   ready     list of ready ids
  KEYS[2]   delayed   sorted set: id -> due time
  KEYS[3]   retrying  sorted set: id -> due time of a retry (entries past their time are stale)
  KEYS[4]   leases    sorted set: id -> lease deadline
  KEYS[5]   dead      list of packed dead letters

  ARGV[1]   now       ms

  Returns { ready, delayed, retrying, leased, dead }.
]]
return {
  redis.call('LLEN', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[1], '+inf'),
  redis.call('ZCARD', KEYS[4]),
  redis.call('LLEN', KEYS[5])
}
