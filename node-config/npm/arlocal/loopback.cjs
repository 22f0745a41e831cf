// Keeps a Node server on loopback: preloaded with `node -r loopback.cjs`, it makes every
// `server.listen(port)` that names no host listen on 127.0.0.1 instead of every interface.
// arlocal calls `app.listen(port)` and has no option for the host; `./dev up` and the tests'
// harness (tests/src/arlocal.rs) run it with this preload.
'use strict'

const net = require('net')

const HOST = '127.0.0.1'
const listen = net.Server.prototype.listen

/** Whether `value` is a port: a number or a string of digits (not a pipe's path). */
function isPort (value) {
  return typeof value === 'number' || (typeof value === 'string' && /^[0-9]+$/.test(value))
}

net.Server.prototype.listen = function (...args) {
  const [first, second] = args
  if (isPort(first) && typeof second !== 'string') {
    // listen(port[, backlog][, callback]) -> listen(port, host[, backlog][, callback])
    args.splice(1, 0, HOST)
  } else if (first === undefined || typeof first === 'function') {
    // listen([callback]): a random port, on loopback.
    args.splice(0, 0, 0, HOST)
  } else if (first !== null && typeof first === 'object' && !(first instanceof net.Server) &&
             first.path === undefined && first.fd === undefined && first.host === undefined &&
             first._handle === undefined && first.handle === undefined) {
    // listen({ port, ... }) without a host.
    args[0] = { ...first, host: HOST }
  }
  return listen.apply(this, args)
}
