/**
 * A local three-node NATS cluster (routes on free ports) with replicated (R3) streams and
 * bucket: both conformance suites pass against it, and queued jobs survive the loss of the node
 * that leads their stream.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import { JobCtx } from "../../src/JobCtx.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import { BrokerSuite, ResultsSuite } from "../../src/testing.js"
import { encodeToken } from "../../src/internal/nats/names.js"
import * as NatsServer from "../utils/natsServer.js"
import { connect } from "@nats-io/transport-node"
import { jetstreamManager } from "@nats-io/jetstream"
import { Sleep } from "./fixtures/tasks.js"

/** the file's cluster: its three nodes */
class Nodes extends Context.Tag("test/NatsCluster")<Nodes, ReadonlyArray<NatsServer.NatsServer>>() {}

// creating a queue (an R3 stream and its consumer, a leader election each) takes up to a couple of
// seconds on a loaded machine; the suite's delayed message is due one visibility timeout after it
// is enqueued, so the timeout here is longer than that
const visibilityTimeout = "3 seconds"
const options = (nodes: ReadonlyArray<NatsServer.NatsServer>, prefix: string): Nats.Options => ({
  servers: nodes.map((n) => n.url),
  prefix,
  replicas: 3,
  visibilityTimeout,
  reconnectWait: "100 millis",
  // a request waits through leader elections of a cluster that other test files load too
  requestTimeout: "15 seconds"
})

/** a layer built with the options of the file's cluster, under the prefix `prefix()` gives */
const onCluster = <A, E, R>(prefix: () => string, f: (options: Nats.Options) => Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(Nodes, (nodes) => f(options(nodes, prefix()))))

/** the name of the server that leads `stream` */
const leaderOf = (nodes: ReadonlyArray<NatsServer.NatsServer>, stream: string) =>
  Effect.acquireUseRelease(
    Effect.tryPromise(() => connect({ servers: nodes.map((n) => n.url) })),
    (nc) =>
      Effect.tryPromise(async () => {
        const jsm = await jetstreamManager(nc)
        return (await jsm.streams.info(stream)).cluster?.leader
      }),
    (nc) => Effect.ignore(Effect.tryPromise(() => nc.close()))
  )

// one cluster for the file; the layer's `it` runs without test services: in real time
layer(Layer.scoped(Nodes, NatsServer.cluster(3)), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
  // The suites' tests run a few at a time (creating an R3 stream or consumer takes a leader
  // election, about half a second each), which also puts the cluster under concurrent load. The
  // broker tests use queues of their own; each results test gets a bucket of its own, since the
  // suite lists the indexes as a whole.
  describe.concurrent("on a 3-node cluster", () => {
    BrokerSuite.run("NATS broker on a 3-node cluster, R3", {
      layer: onCluster(() => "cluster", (options) => Nats.broker(options)),
      visibilityTimeout,
      clock: "live",
      quiet: "250 millis",
      timeout: 30_000
    }, it)

    ResultsSuite.run("NATS results on a 3-node cluster, R3", {
      layer: onCluster(() => `cluster-${crypto.randomUUID().slice(0, 8)}`, (options) => Nats.results(options)),
      clock: "live",
      timeout: 30_000
    }, it)
  })

  describe("NATS: a 3-node cluster loses a node", () => {
    it.effect("queued and delayed jobs survive the loss of their stream's leader and all end successful", () =>
      Effect.gen(function*() {
        const nodes = yield* Nodes
        const prefix = `loss-${crypto.randomUUID().slice(0, 6)}`
        const queue = "loss"
        // requests made while leaders are elected fail after 2 seconds, and are tried again
        const backend = yield* Layer.build(Nats.layer({ ...options(nodes, prefix), requestTimeout: "2 seconds" }))
        const client = Context.get(
          yield* Layer.build(Server.layerWith({ shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeedContext(backend)))),
          Server.Server
        )
        const ready = yield* Effect.forEach([0, 1, 2, 3, 4], (n) => Job.make(Sleep, { n }, { queue }))
        const later = yield* Job.make(Sleep, { n: 5 }, { queue, delay: "2 seconds" })
        const ids = yield* client.enqueueMany([...ready, later])

        const leader = yield* leaderOf(nodes, `${prefix}_q_${encodeToken(queue)}`)
        const victim = nodes.find((n) => n.name === leader)
        assert.isDefined(victim, `leader ${leader} is one of the nodes`)
        yield* victim!.stop("SIGKILL")

        // a worker starts after the loss; the client reconnects to the nodes left
        const worker = Context.get(
          yield* Layer.build(Server.layerWith({ shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeedContext(backend)))),
          Server.Server
        )
        yield* worker.register(Sleep, ({ n }) => Effect.as(JobCtx, { n, pid: process.pid }), { queue, concurrency: 2 })
        yield* Effect.forkScoped(worker.start)
        const finished = yield* Effect.forEach(
          ids,
          (id) => client.awaitJob(id).pipe(Effect.retry({ while: (e) => e._tag === "ResultsError" })),
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("45 seconds"))
        for (const m of finished) assert.strictEqual(m.meta.status, "successful", `job ${m.meta.id}`)
        // the cluster may still be electing leaders for a while: queries are retried
        assert.deepStrictEqual(yield* client.getPending(queue).pipe(Effect.retry({ times: 10 })), [])
        yield* victim!.start
      }).pipe(Effect.scoped), 70_000)
  })
})
