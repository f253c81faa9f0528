// Run as ES module by scripts/check-package.mjs after @effect/platform is installed next to tasqueue.
import { Etag, FileSystem, HttpLayerRouter, HttpPlatform, Path } from "@effect/platform"
import { Layer } from "effect"
import { Server } from "tasqueue"
import * as Dashboard from "tasqueue/dashboard"
import * as Memory from "tasqueue/layers/Memory"

const platform = Layer.mergeAll(HttpPlatform.layer, Etag.layer, Path.layer).pipe(Layer.provideMerge(FileSystem.layerNoop({})))
const app = Dashboard.layer({ prefix: "/ops" }).pipe(
  Layer.provide(Server.layer.pipe(Layer.provideMerge(Memory.layer()))),
  Layer.provide(platform)
)
const { handler, dispose } = HttpLayerRouter.toWebHandler(app, { disableLogger: true })
const page = await handler(new Request("http://localhost/ops"))
const counts = await (await handler(new Request("http://localhost/ops/api/counts"))).json()
console.log(`esm: dashboard ${page.status} ${page.headers.get("content-type")} ${counts.successful}`)
await dispose()
