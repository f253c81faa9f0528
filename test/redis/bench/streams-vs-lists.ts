/**
 * The measurement behind the choice of lists + sorted sets + Lua over Streams (docs/redis.md).
 * Raw ioredis, no Effect: N messages enqueued in batches of 100, then claimed 100 per call and
 * acknowledged 100 per call with a fencing check, one consumer.
 *
 * - lists: this backend's own enqueue, claim and ack scripts.
 * - streams: XADD; XREADGROUP COUNT 100; a Lua ack that fences on the entry's delivery count
 *   (XPENDING) and owner, then XACK + XDEL (without XDEL the stream keeps every entry).
 *
 * run: npx tsx test/redis/bench/streams-vs-lists.ts [messages]
 */
import { Effect } from "effect"
import { Redis } from "ioredis"
import { queueKeys } from "../../../src/internal/redis/keys.js"
import * as Scripts from "../../../src/internal/redis/scripts.js"
import { make as makeRedis } from "../../utils/redisServer.js"

const n = Number(process.argv[2] ?? 100_000)
const body = Buffer.from(JSON.stringify({ meta: { id: "x".repeat(36), status: "queued" }, job: { task: "t", payload: { i: 1 } } }))

const streamAck = `
local out = {}
for i = 1, #ARGV, 2 do
  local p = redis.call('XPENDING', KEYS[1], 'g', ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == 'c1' and tostring(p[1][4]) == ARGV[i + 1] then
    redis.call('XACK', KEYS[1], 'g', ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`

const timed = async (label: string, f: () => Promise<void>) => {
  const t0 = performance.now()
  await f()
  const s = (performance.now() - t0) / 1000
  console.log(`${label}: ${Math.round(n / s)} msg/s`)
}

const lists = async (c: Redis) => {
  for (const s of Scripts.all) c.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.keys })
  const k = queueKeys("bench", "lists")
  const run = (s: Scripts.Script, keys: Array<string>, args: Array<string | number | Buffer>) =>
    (c as any)[`${s.name}Buffer`](...keys, ...args) as Promise<Array<any>>
  await timed("lists   enqueue (100 per call)", async () => {
    const calls: Array<Promise<unknown>> = []
    for (let i = 0; i < n; i += 100) {
      const args: Array<string | number | Buffer> = [k.job, 0, 64]
      for (let j = i; j < i + 100; j++) args.push(`m${j}`, body, 0)
      calls.push(run(Scripts.enqueue, [k.ready, k.delayed, k.signal], args))
    }
    await Promise.all(calls)
  })
  const keys = [k.ready, k.delayed, k.leases, k.signal, k.dead]
  await timed("lists   claim 100 + fenced ack 100 per call", async () => {
    for (let got = 0; got < n;) {
      // job prefix, now, lease deadline, how many, max lost leases, signal cap, visibility
      // timeout, results prefix (none), reply key (none), old reply keys (none)
      const r = await run(Scripts.claim, keys, [k.job, 1, 30_001, 100, 10, 64, 30_000, "", "", 0])
      const args: Array<string | number | Buffer> = [k.job, 2, 30_002, 0, 10, 64, 30_000, "", "", 0]
      for (let i = 1; i < r.length; i += 4) args.push(r[i], String(r[i + 1]))
      const acked = await run(Scripts.ack, keys, args)
      // { count, 1 per acknowledged delivery, ... }: a script out of step with this call fails here
      if (acked[0] !== (r.length - 1) / 4 || acked.slice(1, 1 + acked[0]).some((flag) => flag !== 1)) {
        throw new Error(`the ack script did not acknowledge the claimed messages: ${JSON.stringify(acked.slice(0, 4))}`)
      }
      got += (r.length - 1) / 4
    }
  })
}

const streams = async (c: Redis) => {
  c.defineCommand("streamAck", { lua: streamAck, numberOfKeys: 1 })
  await c.xgroup("CREATE", "s", "g", "$", "MKSTREAM")
  await timed("streams enqueue (XADD, 100 per pipeline)", async () => {
    const calls: Array<Promise<unknown>> = []
    for (let i = 0; i < n; i += 100) {
      const p = c.pipeline()
      for (let j = i; j < i + 100; j++) p.xadd("s", "*", "id", `m${j}`, "b", body)
      calls.push(p.exec())
    }
    await Promise.all(calls)
  })
  await timed("streams XREADGROUP 100 + fenced ack 100 per call", async () => {
    for (let got = 0; got < n;) {
      const r = (await c.xreadgroup("GROUP", "g", "c1", "COUNT", 100, "STREAMS", "s", ">")) as Array<[string, Array<[string, Array<string>]>]>
      const entries = r[0]![1]
      const args: Array<string> = []
      for (const [id] of entries) args.push(id, "1")
      await (c as any).streamAck("s", ...args)
      got += entries.length
    }
  })
}

Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const redis = yield* makeRedis()
  yield* Effect.promise(async () => {
    const c = new Redis({ port: redis.port })
    await lists(c)
    await streams(c)
    console.log(`(redis used_memory after both: ${(await c.info("memory")).match(/used_memory_human:(\S+)/)?.[1]})`)
    c.disconnect()
  })
}))).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
