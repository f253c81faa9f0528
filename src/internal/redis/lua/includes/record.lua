--[[
  One record of a job's state, shared by the record and settle scripts.

  A job hash of the results store has the fields `message` (the encoded JobMessage), `status`,
  `at` (time of the record, ms), `result` (bytes, when saved), `attempt` (the newest attempt
  that recorded or was claimed in this run) and `processedAt` (while a claim's `processing` mark
  is the newest state, see includes/processing, or a success written as a patch of `message`,
  see patchSuccess; a full record drops it).

  recordOne(jobPrefix, ttl, records, i, indexes, latest): applies the record at
  records[i .. i + 6] (id, status, message, at, has result "1"/"0", result, attempt: the
  worker's attempt, '' for a record not written by a worker, 'new' for a new run) to the job
  hash jobPrefix .. id, with three rules. An enqueue (`queued` with '') is refused when the job
  has a state. First final wins: a record of a job whose status is final is refused unless it is
  a new run (`queued` with 'new': the job leaves the indexes, its result is dropped and the
  attempts count afresh); a new run over a state that is not final is refused (the fence
  stays). Fenced by attempt: a record whose attempt is older than the stored one is refused.
  A record equal to the stored final one (status, at and message) is reported applied without
  change: it is the same record sent again after a reconnect. `ttl` is the hash's time to live
  (ms, 0 for none). `indexes` are the successful and failed index keys; `latest` collects the
  newest `at` added to each, for `trimIndexes`. Gives 1 (applied) or 0 (refused).

  patchSuccess(jobPrefix, ttl, id, at, processedAt, hasResult, result, attempt, indexes, latest):
  a worker's `successful` record written as a patch of the job's stored state: `message` stays
  (the state its claim marked: the worker's message is that state made successful) and `status`, `at`, `attempt`, `processedAt` (the attempt's start)
  and the result are set; the store reads the job as `message` with that status, `processedAt`
  and `finishedAt` = `at` (results.ts). The rules of recordOne hold: refused (0) when the job's
  status is final or its stored attempt is newer; refused too when the job has no state (deleted,
  or its time to live ran out, while it ran: a patch cannot make one). Gives 1 or 0.

  trimIndexes(indexes, latest, indexTtl): drops index entries older than indexTtl (ms, 0 for
  none) before the newest one added, and renews the indexes' time to live.

  Records travel packed: one argument holding a MessagePack array of strings (see pack.ts),
  read with `cmsgpack.unpack`.
]]
--- @include "final"

-- adds a final job to index 1 (successful) or 2 (failed) at `at`, noting the newest for trimIndexes
local function indexAt(indexes, latest, index, id, at)
  redis.call('ZADD', indexes[index], at, id)
  local time = tonumber(at)
  if not latest[index] or time > latest[index] then latest[index] = time end
end

local function recordOne(jobPrefix, ttl, records, i, indexes, latest)
  local id, status, message, at, attempt = records[i], records[i + 1], records[i + 2], records[i + 3], records[i + 6]
  local jobKey = jobPrefix .. id
  local current = redis.call('HMGET', jobKey, 'status', 'at', 'attempt', 'processedAt')
  local newRun = status == 'queued' and attempt == 'new'
  if newRun then attempt = '' end
  if current[1] and status == 'queued' and attempt == '' and not newRun then
    -- an enqueue over a job that has a state (sent twice, or late): ignored
    return 0
  end
  if current[1] and final[current[1]] then
    if newRun then
      redis.call('ZREM', indexes[1], id)
      redis.call('ZREM', indexes[2], id)
      redis.call('HDEL', jobKey, 'result')
    elseif current[1] == status and current[2] == at and redis.call('HGET', jobKey, 'message') == message then
      return 1
    else
      return 0
    end
  elseif newRun and current[1] then
    -- a new run's record over a job not finished (sent twice, or late): the run stands
    return 0
  end
  local fields = { 'message', message, 'status', status, 'at', at }
  if attempt ~= '' then
    if current[3] and tonumber(attempt) < tonumber(current[3]) then return 0 end
    fields[7], fields[8] = 'attempt', attempt
  elseif newRun and current[3] then
    redis.call('HDEL', jobKey, 'attempt')
  end
  if records[i + 4] == '1' then
    fields[#fields + 1] = 'result'
    fields[#fields + 1] = records[i + 5]
  end
  redis.call('HSET', jobKey, unpack(fields))
  if current[4] then redis.call('HDEL', jobKey, 'processedAt') end
  if ttl > 0 then redis.call('PEXPIRE', jobKey, ttl) end
  if status == 'successful' then
    indexAt(indexes, latest, 1, id, at)
  elseif status == 'failed' then
    indexAt(indexes, latest, 2, id, at)
  end
  return 1
end

local function patchSuccess(jobPrefix, ttl, id, at, processedAt, hasResult, result, attempt, indexes, latest)
  local jobKey = jobPrefix .. id
  local current = redis.call('HMGET', jobKey, 'status', 'attempt')
  if not current[1] or final[current[1]] then return 0 end
  if current[2] and tonumber(attempt) < tonumber(current[2]) then return 0 end
  local fields = { 'status', 'successful', 'at', at, 'attempt', attempt, 'processedAt', processedAt }
  if hasResult == '1' then fields[9], fields[10] = 'result', result end
  redis.call('HSET', jobKey, unpack(fields))
  if ttl > 0 then redis.call('PEXPIRE', jobKey, ttl) end
  indexAt(indexes, latest, 1, id, at)
  return 1
end

local function trimIndexes(indexes, latest, indexTtl)
  if indexTtl > 0 then
    for index, time in pairs(latest) do
      redis.call('ZREMRANGEBYSCORE', indexes[index], '-inf', '(' .. (time - indexTtl))
      redis.call('PEXPIRE', indexes[index], indexTtl)
    end
  end
end
