// Raw JetStream, no tasqueue (docs/performance.md, "NATS backlog"): N jobs waiting, a
// work-queue message and a key in a max-msgs-per-subject stream (file store) each, then C = 10
// workers take the first M: for each, `writes` compare-and-set overwrites of its key, one new
// index key, the ack. Prints jobs/s, nats-server and client CPU per job, ms per 1,000 jobs.
// Starts its own nats-server (/usr/sbin/nats-server) on a temporary store.
//   node bench/rawKvBacklog.mjs 10000,1000000 [writes=2] [measured=10000] [history=1]
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@nats-io/transport-node"
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream"

const sizes = (process.argv[2] ?? "10000,200000").split(",").map(Number)
const writes = Number(process.argv[3] ?? 2)
const measured = Number(process.argv[4] ?? 10000)
/** the KV stream's max_msgs_per_subject (history) */
const history = Number(process.argv[5] ?? 1)
const port = 20000 + (process.pid % 20000)
const dir = mkdtempSync(join(tmpdir(), "rawkv-"))
const srv = spawn("/usr/sbin/nats-server", ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" })
const cpu = () => { const f = readFileSync(`/proc/${srv.pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) * 10 }
const ccpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000 }
await new Promise((r) => setTimeout(r, 800))
const nc = await connect({ servers: `127.0.0.1:${port}` })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
const body = new TextEncoder().encode(JSON.stringify({ task: "add", payload: { arg1: 1, arg2: 2 }, queue: "bench", opts: { maxRetries: 3, timeout: 30000 }, pad: "x".repeat(200) }))
let round = 0
for (const n of sizes) {
  const p = `r${round++}`
  await jsm.streams.add({ name: `${p}_q`, subjects: [`${p}.q.*`], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.New })
  await jsm.streams.add({ name: `${p}_kv`, subjects: [`${p}.kv.>`], max_msgs_per_subject: history, discard: DiscardPolicy.New, allow_rollup_hdrs: true, allow_direct: true })
  await jsm.consumers.add(`${p}_q`, { durable_name: "workers", ack_policy: AckPolicy.Explicit, max_ack_pending: 10000 })
  const rev = new Map()
  let t = performance.now(), s = cpu()
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, async (_, k) => {
      const id = `job-${i + k}-${Math.random().toString(36).slice(2, 10)}`
      const a = await js.publish(`${p}.kv.j.${id}`, body)
      rev.set(id, a.seq)
      await js.publish(`${p}.q.${id}`, body, { msgID: id })
    }))
  }
  const enq = { s: (performance.now() - t) / 1000, server: (cpu() - s) / 1000 }
  const c = await js.consumers.get(`${p}_q`, "workers")
  const msgs = await c.consume({ max_messages: 10 })
  let done = 0
  const marks = []
  t = performance.now(), s = cpu()
  const c0 = ccpu()
  await new Promise((resolve) => {
    let inflight = 0
    const it = msgs[Symbol.asyncIterator]()
    const pump = async () => {
      while (inflight < 10) {
        inflight++
        const { value: m } = await it.next()
        if (m === undefined || done >= measured) return
        ;(async () => {
          const id = m.subject.slice(m.subject.lastIndexOf(".") + 1)
          let r = rev.get(id)
          for (let w = 0; w < writes; w++) {
            const a = await js.publish(`${p}.kv.j.${id}`, body, { expect: { lastSubjectSequence: r } })
            r = a.seq
          }
          await js.publish(`${p}.kv.x.s.${Date.now()}.${id}`, new Uint8Array(0))
          m.ack()
          inflight--
          if (++done % 1000 === 0) marks.push(Math.round(performance.now() - t))
          if (done === measured) resolve()
          else pump()
        })()
      }
    }
    pump()
  })
  const wall = (performance.now() - t) / 1000
  console.log(JSON.stringify({ waiting: n, writes, history, enqueueS: +enq.s.toFixed(1), enqueueServerS: +enq.server.toFixed(1), rate: Math.round(measured / wall), serverUsPerJob: Math.round((cpu() - s) * 1000 / measured), clientUsPerJob: Math.round((ccpu() - c0) * 1000 / measured), msPer1000: marks.map((m, i) => m - (marks[i - 1] ?? 0)) }))
  msgs.stop()
  await jsm.streams.delete(`${p}_q`)
  await jsm.streams.delete(`${p}_kv`)
}
await nc.close()
srv.kill("SIGTERM")
await new Promise((r) => setTimeout(r, 500))
rmSync(dir, { recursive: true, force: true })
process.exit(0)
