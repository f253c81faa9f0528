--[[
  setResult: saves a job's result; a worker's save is fenced by attempt as records are.

  KEYS[1]   job   the job hash of the results store

  ARGV[1]   ttl       ms, 0 for none: the job hash's time to live
  ARGV[2]   result    bytes
  ARGV[3]   attempt   the saving delivery's attempt, or '' (not a worker's save)

  Returns 1 (saved) or 0 (refused: a newer attempt has recorded).
]]
local jobKey = KEYS[1]

local ttl = tonumber(ARGV[1])
local result = ARGV[2]
local attempt = ARGV[3]

if attempt ~= '' then
  local newest = redis.call('HGET', jobKey, 'attempt')
  if newest and tonumber(attempt) < tonumber(newest) then return 0 end
end
redis.call('HSET', jobKey, 'result', result)
if ttl > 0 then redis.call('PEXPIRE', jobKey, ttl) end
return 1
