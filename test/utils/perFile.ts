/**
 * A scoped resource (a server, say) shared by the tests of one file: acquired before them,
 * released after them. Gives a getter for use inside tests.
 *
 * Tests use `@effect/vitest`'s `layer()` with `RedisServer.layer` / `NatsServer.layer`
 * instead (see test/redis/prefix.test.ts). This stays only for the files that run the shipped
 * conformance suites (`BrokerSuite`, `ResultsSuite`, `ServerSuite`, whose tests run on the
 * global `it` and take a layer built per test) and the recordAndAck suite that runs beside
 * them on the Cluster.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"

export const perFile = <A>(acquire: Effect.Effect<A, unknown, Scope.Scope>, timeout = 30_000): () => A => {
  const scope = Effect.runSync(Scope.make())
  let value: { readonly a: A } | undefined
  beforeAll(async () => {
    value = { a: await Effect.runPromise(Scope.extend(acquire, scope)) }
  }, timeout)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return () => {
    if (value === undefined) throw new Error("the file's resource is used before it was acquired")
    return value.a
  }
}
