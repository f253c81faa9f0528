--[[
  Wake-up tokens. Idle consumers block on a queue's signal list (BLPOP); a stale token costs
  one look at the queue.

  signal(readyKey, signalKey, cap): tops the signal list up to min(ready length, cap) tokens,
  or clears it when nothing is ready.
]]
local function signal(readyKey, signalKey, cap)
  local readyCount = redis.call('LLEN', readyKey)
  if readyCount == 0 then
    redis.call('DEL', signalKey)
    return
  end
  local missing = math.min(readyCount, cap) - redis.call('LLEN', signalKey)
  if missing > 0 then
    local tokens = {}
    for i = 1, missing do tokens[i] = '1' end
    redis.call('LPUSH', signalKey, unpack(tokens))
  end
end
