--[[
  Reply keys, for the calls that claim (claim, ack, settle): each call leaves its reply under a
  key of its own, so that the same call re-sent by ioredis after a reconnect gets the same
  answer back (the same deliveries, the same flags) instead of leasing new messages. The next
  call of the consumer deletes the keys of the replies that arrived; the rest expire after a
  visibility timeout. An empty reply key means none.

  forgetReplies(argv, first, count): deletes the reply keys argv[first .. first + count - 1].
  rememberReply(replyKey, value, ttl) and recallReply(replyKey): keep and read a reply.

  The reply of a call that settles deliveries (ack, settle) is { count, flags..., then what
  `claim` appends when it claims }, remembered as { flags, claimed }:
  settledReply(queue, request, flags, replyKey) claims and remembers;
  replayedReply(queue, request, previous) gives the first run's reply again.
]]
--- @include "claim"

local function forgetReplies(argv, first, count)
  if count > 0 then redis.call('DEL', unpack(argv, first, first + count - 1)) end
end

local function rememberReply(replyKey, value, ttl)
  if replyKey ~= '' then redis.call('SET', replyKey, cmsgpack.pack(value), 'PX', ttl) end
end

local function recallReply(replyKey)
  if replyKey == '' then return nil end
  local packed = redis.call('GET', replyKey)
  if packed then return cmsgpack.unpack(packed) end
  return nil
end

local function settledReply(queue, request, flags, replyKey)
  local out = { #flags }
  for _, flag in ipairs(flags) do out[#out + 1] = flag end
  local leased = {}
  if request.count > 0 then claim(queue, request, out, leased) end
  rememberReply(replyKey, { flags = flags, claimed = leased }, request.visibilityTimeout)
  return out
end

local function replayedReply(queue, request, previous)
  local out = { #previous.flags }
  for _, flag in ipairs(previous.flags) do out[#out + 1] = flag end
  if request.count > 0 then replayClaim(queue, request.jobPrefix, previous.claimed, out) end
  return out
end
