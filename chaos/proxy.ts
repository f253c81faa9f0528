/**
 * An in-process TCP proxy (Node `net`) put between clients and a server, to inject network
 * faults: reset every connection, stall all traffic (held, then delivered in order), add
 * latency with jitter (order kept per direction), or drop the server's replies (the requests
 * still arrive: a cut between request and reply).
 */
import * as net from "node:net"

export interface Proxy {
  readonly port: number
  /** destroys every open connection with a TCP reset */
  readonly resetAll: () => number
  /** holds all traffic while `on`; it is delivered in order when the stall ends */
  readonly stall: (on: boolean) => void
  /** delays every chunk by `baseMs` plus up to `jitterMs` (0, 0: none) */
  readonly latency: (baseMs: number, jitterMs: number) => void
  /** while on, bytes from the server are dropped and the connection is reset `afterMs` later */
  readonly cutReplies: (on: boolean, afterMs?: number) => void
  /** connections currently open */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

interface Pipe {
  readonly queue: Array<{ readonly at: number; readonly chunk: Buffer }>
  timer: NodeJS.Timeout | undefined
  last: number
}

export const start = (upstreamPort: number, host = "127.0.0.1"): Promise<Proxy> => {
  const pairs = new Set<{ readonly client: net.Socket; readonly server: net.Socket }>()
  let stalled = false
  let base = 0
  let jitter = 0
  let cut: { readonly afterMs: number } | undefined

  const flush = (pipe: Pipe, to: net.Socket) => {
    if (pipe.timer !== undefined) clearTimeout(pipe.timer)
    pipe.timer = undefined
    if (stalled || to.destroyed) return
    const now = Date.now()
    while (pipe.queue.length > 0 && pipe.queue[0]!.at <= now) to.write(pipe.queue.shift()!.chunk)
    if (pipe.queue.length > 0) pipe.timer = setTimeout(() => flush(pipe, to), pipe.queue[0]!.at - now)
  }

  const forward = (from: net.Socket, to: net.Socket, fromServer: boolean) => {
    const pipe: Pipe = { queue: [], timer: undefined, last: 0 }
    from.on("data", (chunk: Buffer) => {
      if (fromServer && cut !== undefined) {
        const afterMs = cut.afterMs
        setTimeout(() => {
          from.resetAndDestroy()
          to.resetAndDestroy()
        }, afterMs)
        return
      }
      if (!stalled && base === 0 && jitter === 0 && pipe.queue.length === 0) {
        to.write(chunk)
        return
      }
      const delay = base + Math.random() * jitter
      pipe.last = Math.max(pipe.last, Date.now() + delay)
      pipe.queue.push({ at: pipe.last, chunk })
      if (pipe.timer === undefined) flush(pipe, to)
    })
    return pipe
  }

  const pipes = new Set<{ readonly pipe: Pipe; readonly to: net.Socket }>()
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, host)
    const pair = { client, server: upstream }
    pairs.add(pair)
    const up = { pipe: forward(client, upstream, false), to: upstream }
    const down = { pipe: forward(upstream, client, true), to: client }
    pipes.add(up)
    pipes.add(down)
    const end = () => {
      pairs.delete(pair)
      pipes.delete(up)
      pipes.delete(down)
      client.destroy()
      upstream.destroy()
    }
    client.on("error", end)
    upstream.on("error", end)
    client.on("close", end)
    upstream.on("close", end)
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      resolve({
        port: address.port,
        resetAll: () => {
          const n = pairs.size
          for (const pair of [...pairs]) {
            pair.client.resetAndDestroy()
            pair.server.resetAndDestroy()
          }
          return n
        },
        stall: (on) => {
          stalled = on
          if (!on) for (const { pipe, to } of pipes) flush(pipe, to)
        },
        latency: (baseMs, jitterMs) => {
          base = baseMs
          jitter = jitterMs
        },
        cutReplies: (on, afterMs = 0) => {
          cut = on ? { afterMs } : undefined
        },
        connections: () => pairs.size,
        close: () =>
          new Promise<void>((done) => {
            for (const pair of pairs) {
              pair.client.destroy()
              pair.server.destroy()
            }
            server.close(() => done())
          })
      })
    })
  })
}
