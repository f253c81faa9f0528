/**
 * The Broker, Results and Server conformance suites, and the recordAndAck suite, against a
 * three-master Redis Cluster created by the test setup (redis-server --cluster-enabled yes on
 * free ports, redis-cli --cluster create).
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Redis from "../../src/layers/Redis.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"
import * as RedisServer from "../utils/redisServer.js"
import * as RecordAndAckSuite from "./recordAndAckSuite.js"

/** the file's Cluster: its three masters */
class Nodes extends Context.Tag("test/RedisCluster")<Nodes, ReadonlyArray<RedisServer.RedisServer>>() {}

const options = (nodes: ReadonlyArray<RedisServer.RedisServer>): Redis.Options => ({
  cluster: nodes.map((node) => ({ host: node.host, port: node.port })),
  prefix: "cluster-conformance",
  pollInterval: "60 seconds"
})

/** a layer built with the options of the file's Cluster */
const onCluster = <A, E, R>(f: (options: Redis.Options) => Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(Nodes, (nodes) => f(options(nodes))))

layer(Layer.scoped(Nodes, RedisServer.makeCluster()), { excludeTestServices: true, timeout: "30 seconds" })((it) => {
  BrokerSuite.run("Redis Cluster broker", {
    layer: onCluster((options) => Redis.broker({ ...options, visibilityTimeout: "30 seconds" })),
    visibilityTimeout: "30 seconds",
    quiet: "100 millis",
    timeout: 10_000
  }, it)

  ResultsSuite.run("Redis Cluster results", { layer: onCluster((options) => Redis.results(options)) }, it)

  ServerSuite.run("Server and workflows on Redis Cluster", {
    layer: onCluster((options) => Redis.layer({ ...options, prefix: `cluster-server-${crypto.randomUUID().slice(0, 8)}` })),
    timeout: 10_000,
    visibilityTimeout: "30 seconds"
  }, it)

  // on a Cluster the results and the queue are in different slots: the store records, then acknowledges
  RecordAndAckSuite.run("Redis Cluster recordAndAck", {
    layer: onCluster((options) =>
      Redis.layer({ ...options, prefix: `cluster-raa-${crypto.randomUUID().slice(0, 8)}`, visibilityTimeout: "30 seconds" })
    ),
    visibilityTimeout: "30 seconds",
    fused: false
  }, it)

  describe("Redis Cluster", () => {
    // the layer's `it` runs without test services: in real time
    it.effect("queues spread over the masters, each queue's keys in one slot", () =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const nodes = yield* Nodes
        const queues = Array.from({ length: 12 }, (_, i) => `spread-${i}`)
        yield* Effect.forEach(queues, (queue) => broker.enqueue(queue, [{ id: "a", body: new Uint8Array([1]) }, { id: "b", body: new Uint8Array([2]), runAt: 10 ** 13 }]))
        const perNode = yield* Effect.forEach(nodes, (node) =>
          Effect.map(node.cli("--scan", "--pattern", "{cluster-conformance:spread-*"), (out) => out.split("\n").filter((k) => k !== "")))
        assert.isAtLeast(perNode.filter((keys) => keys.length > 0).length, 2, "queues on at least two masters")
        for (const queue of queues) {
          const holders = perNode.filter((keys) => keys.some((k) => k.startsWith(`{cluster-conformance:${queue}}`)))
          assert.strictEqual(holders.length, 1, `keys of ${queue} on one node`)
        }
        for (const queue of queues) assert.deepStrictEqual((yield* broker.pending(queue)).map((p) => p.id), ["a", "b"])
      }).pipe(Effect.provide(onCluster((options) => Redis.broker(options)))))
  })
})
