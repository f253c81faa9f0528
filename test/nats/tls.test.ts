/**
 * TLS: a server that requires it is reached with the CA given in the options; without it the
 * layer fails with a typed error. Uses the test-only certificate of test/redis/fixtures/tls.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { fileURLToPath } from "node:url"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as NatsServer from "../utils/natsServer.js"
import { perFile } from "../utils/perFile.js"

const tls = (file: string) => fileURLToPath(new URL(`../redis/fixtures/tls/${file}`, import.meta.url))

const nats = perFile(
  NatsServer.start({ config: `tls { cert_file: "${tls("server.crt")}", key_file: "${tls("server.key")}" }` })
)

const prefix = `tls-${crypto.randomUUID().slice(0, 8)}`

describe("NATS over TLS", () => {
  it.live("the CA from the options verifies the server; results go through", () =>
    Effect.gen(function*() {
      const results = Context.get(
        yield* Layer.build(Nats.results({ servers: nats().url, prefix, tls: { caFile: tls("ca.crt") } })),
        Results
      )
      yield* results.set("k", new TextEncoder().encode("v"))
      assert.isTrue(Option.isSome(yield* results.get("k")))
    }).pipe(Effect.scoped))

  it.live("without the CA the server's certificate is refused: NatsError", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Effect.scoped(Layer.build(Nats.results({ servers: nats().url, prefix, tls: true }))))
      assert.strictEqual(e._tag, "NatsError")
      assert.include(e.message, "certificate")
    }))
})
