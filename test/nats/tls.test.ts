/**
 * TLS: a server that requires it is reached with the CA given in the options; without it the
 * layer fails with a typed error. Uses the test-only certificate of test/redis/fixtures/tls.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { fileURLToPath } from "node:url"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as NatsServer from "../utils/natsServer.js"

const tls = (file: string) => fileURLToPath(new URL(`../redis/fixtures/tls/${file}`, import.meta.url))

/** a nats-server that requires TLS, with the test certificate */
const tlsServer = NatsServer.layer({
  config: `tls { cert_file: "${tls("server.crt")}", key_file: "${tls("server.key")}" }`
})

const prefix = `tls-${crypto.randomUUID().slice(0, 8)}`

layer(tlsServer, { excludeTestServices: true, timeout: "30 seconds" })("NATS over TLS", (it) => {
  it.effect("the CA from the options verifies the server; results go through", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const results = Context.get(
        yield* Layer.build(Nats.results({ servers: nats.url, prefix, tls: { caFile: tls("ca.crt") } })),
        Results
      )
      yield* results.set("k", new TextEncoder().encode("v"))
      assert.isTrue(Option.isSome(yield* results.get("k")))
    }).pipe(Effect.scoped))

  it.effect("without the CA the server's certificate is refused: NatsError", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const e = yield* Effect.flip(Effect.scoped(Layer.build(Nats.results({ servers: nats.url, prefix, tls: true }))))
      assert.strictEqual(e._tag, "NatsError")
      assert.include(e.message, "certificate")
    }))
})
