--[[
  add: adds a member to a coordination set; the time to live is set when the set is created.

  KEYS[1]   set

  ARGV[1]   ttl      ms, 0 for none
  ARGV[2]   member

  Returns the set's size.
]]
local setKey = KEYS[1]

local ttl = tonumber(ARGV[1])
local member = ARGV[2]

local added = redis.call('SADD', setKey, member)
local size = redis.call('SCARD', setKey)
if added == 1 and size == 1 and ttl > 0 then redis.call('PEXPIRE', setKey, ttl) end
return size
