--[[
  setResult: saves a job's result.

  KEYS[1]   job   the job hash of the results store

  ARGV[1]   ttl      ms, 0 for none: the job hash's time to live
  ARGV[2]   result   bytes

  Returns 1.
]]
local jobKey = KEYS[1]

local ttl = tonumber(ARGV[1])
local result = ARGV[2]

redis.call('HSET', jobKey, 'result', result)
if ttl > 0 then redis.call('PEXPIRE', jobKey, ttl) end
return 1
