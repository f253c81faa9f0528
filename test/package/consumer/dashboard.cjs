// Run as CommonJS by scripts/check-package.mjs after @effect/platform is installed next to tasqueue.
const { Etag, FileSystem, HttpLayerRouter, HttpPlatform, Path } = require("@effect/platform")
const { Layer } = require("effect")
const { Server } = require("tasqueue")
const Dashboard = require("tasqueue/dashboard")
const Memory = require("tasqueue/layers/Memory")

const platform = Layer.mergeAll(HttpPlatform.layer, Etag.layer, Path.layer).pipe(Layer.provideMerge(FileSystem.layerNoop({})))
const app = Dashboard.layer({ prefix: "/ops" }).pipe(
  Layer.provide(Server.layer.pipe(Layer.provideMerge(Memory.layer()))),
  Layer.provide(platform)
)
async function main() {
  const { handler, dispose } = HttpLayerRouter.toWebHandler(app, { disableLogger: true })
  const page = await handler(new Request("http://localhost/ops"))
  const counts = await (await handler(new Request("http://localhost/ops/api/counts"))).json()
  console.log(`cjs: dashboard ${page.status} ${page.headers.get("content-type")} ${counts.successful}`)
  await dispose()
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
