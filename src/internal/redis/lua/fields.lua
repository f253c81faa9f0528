--[[
  fields: one field of many job hashes of the results store, with the `processedAt` of a claim's
  `processing` mark when asked (see includes/processing). Read-only.

  KEYS[1]   any key of the results' hash tag (routes the call on Redis Cluster); not read

  ARGV[1]   jobPrefix       prefix of the job hashes (jobPrefix .. id)
  ARGV[2]   field           `message` or `result`
  ARGV[3]   withProcessedAt '1': also each job's `processedAt`; '0': not
  ARGV[4..]                 ids

  Returns the field of each job (nil where missing), each followed by its `processedAt` (nil
  where missing) when asked.
]]
local jobPrefix = ARGV[1]
local field = ARGV[2]
local withProcessedAt = ARGV[3] == '1'
local firstId = 4

local out = {}
for i = firstId, #ARGV do
  local jobKey = jobPrefix .. ARGV[i]
  out[#out + 1] = redis.call('HGET', jobKey, field)
  if withProcessedAt then out[#out + 1] = redis.call('HGET', jobKey, 'processedAt') end
end
return out
