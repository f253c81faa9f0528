/**
 * The backlog workload on NATS phase by phase (as `Tasqueue.backlog`), with nats-server's and
 * this process's CPU per job of the processing phase. PROF_PORT=n saves a 5-second nats-server
 * CPU profile of it (Go pprof) to the temp directory; CPU_PROF=1 a V8 profile of this process.
 *   node .jsout/bench/backlogProbe.js 10000,300000 [measured=10000]
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { tmpdir } from "node:os"
import * as Job from "../src/Job.js"
import * as Nats from "../src/layers/Nats.js"
import * as Server from "../src/Server.js"
import * as NatsServer from "../test/utils/natsServer.js"
import { Add } from "./tasqueue.js"

const sizes = (process.argv[2] ?? "10000,200000").split(",").map(Number)
const measured = Number(process.argv[3] ?? 10_000)
const pause = Number(process.env.PAUSE_MS ?? 0)

const serverCpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(f[11]) + Number(f[12])) * 10 // ms (CLK_TCK 100)
}
const clientCpu = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

const cpuProf = process.env.CPU_PROF === "1"
const session = new Session()
if (cpuProf) session.connect()
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r))))

const main = Effect.gen(function*() {
  const profPort = Number(process.env.PROF_PORT ?? 0)
  const nats = yield* NatsServer.start(profPort > 0 ? { config: `prof_port: ${profPort}` } : {})
  const pid = nats.pid()!
  let ns = 0
  for (const waiting of sizes) {
    const prefix = `p${ns++}`
    const layer = Server.layer.pipe(Layer.provide(Nats.layer({ servers: nats.url, prefix })))
    yield* Effect.gen(function*() {
      const server = yield* Server.Server
      const done = Deferred.unsafeMake<void>(undefined as never)
      let count = 0
      yield* server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), {
        queue: "bench",
        concurrency: 10,
        onSuccess: () => Effect.sync(() => { if (++count === measured) Deferred.unsafeDone(done, Effect.void) })
      })
      const job = yield* Job.make(Add, { arg1: 1, arg2: 2 }, { queue: "bench" })
      let t = performance.now(), s = serverCpu(pid), c = clientCpu()
      for (let i = 0; i < waiting; i += 1000) {
        yield* server.enqueueMany(Array.from({ length: Math.min(1000, waiting - i) }, () => job))
      }
      const enq = { wall: performance.now() - t, server: serverCpu(pid) - s, client: clientCpu() - c }
      if (pause > 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, pause)))
      if (cpuProf) yield* Effect.promise(async () => { await post("Profiler.enable"); await post("Profiler.start") })
      t = performance.now(), s = serverCpu(pid), c = clientCpu()
      const worker = yield* Effect.fork(server.start)
      const tag = `${waiting}-${ns}`
      if (profPort > 0) {
        yield* Effect.forkDaemon(Effect.promise(async () => {
          await new Promise((r) => setTimeout(r, 1000))
          const res = await fetch(`http://127.0.0.1:${profPort}/debug/pprof/profile?seconds=5`)
          writeFileSync(`${tmpdir()}/srv-${tag}.pb.gz`, Buffer.from(await res.arrayBuffer()))
        }))
      }
      yield* Deferred.await(done)
      const wall = performance.now() - t
      const proc = { wall, server: serverCpu(pid) - s, client: clientCpu() - c }
      if (cpuProf) {
        yield* Effect.promise(async () => {
          const { profile } = await post("Profiler.stop")
          writeFileSync(`${tmpdir()}/cli-${tag}.cpuprofile`, JSON.stringify(profile))
        })
      }
      yield* Fiber.interrupt(worker)
      console.log(JSON.stringify({
        waiting,
        enqueue: { s: +(enq.wall / 1000).toFixed(1), serverCpuS: +(enq.server / 1000).toFixed(1), clientCpuS: +(enq.client / 1000).toFixed(1) },
        rate: Math.round(measured / (wall / 1000)),
        serverUsPerJob: Math.round(proc.server * 1000 / measured),
        clientUsPerJob: Math.round(proc.client * 1000 / measured),
        heapMB: Math.round(process.memoryUsage().heapUsed / 1e6)
      }))
    }).pipe(Effect.provide(layer), Effect.scoped)
    yield* Effect.promise(async () => {
      const nc = await connect({ servers: nats.url })
      const jsm = await jetstreamManager(nc)
      for await (const st of jsm.streams.list()) await jsm.streams.delete(st.config.name)
      await nc.drain()
    })
  }
}).pipe(Effect.scoped)

Effect.runPromise(main).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
