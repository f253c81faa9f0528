// The `require` side of the package's types, from a CommonJS module under NodeNext.
import effect = require("effect")
import tasqueue = require("tasqueue")
import Memory = require("tasqueue/layers/Memory")
import Redis = require("tasqueue/layers/Redis")

const options: Redis.Options = { url: "redis://localhost:6379", prefix: "app" }
const layer: effect.Layer.Layer<tasqueue.Server.Server, Memory.MemoryError> = tasqueue.Server.layer.pipe(effect.Layer.provide(Memory.layer()))

export = { layer, options }
