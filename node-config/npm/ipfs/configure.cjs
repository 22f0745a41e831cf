#!/usr/bin/env node
// Sets up a js-ipfs repository (after `jsipfs init --profile test`) as a private node on
// loopback: given ports for its swarm, RPC API, gateway and gRPC endpoint, no peers, no
// discovery, no announcing, no bootstrap, no routing, no pubsub. `./dev up` and the tests'
// harness (tests/src/ipfs.rs) both run it, so the node is the same in both.
//
//   node configure.cjs REPO SWARM_PORT API_PORT GATEWAY_PORT RPC_PORT
'use strict'

const fs = require('fs')
const path = require('path')

const [repo, ...ports] = process.argv.slice(2)
if (!repo || ports.length !== 4 || !ports.every((p) => /^[0-9]+$/.test(p) && +p > 0 && +p < 65536)) {
  console.error('usage: node configure.cjs REPO SWARM_PORT API_PORT GATEWAY_PORT RPC_PORT')
  process.exit(2)
}
const [swarm, api, gateway, rpc] = ports
const file = path.join(repo, 'config')
const config = JSON.parse(fs.readFileSync(file, 'utf8'))

config.Addresses = {
  ...config.Addresses,
  Swarm: [`/ip4/127.0.0.1/tcp/${swarm}`],
  API: `/ip4/127.0.0.1/tcp/${api}`,
  Gateway: `/ip4/127.0.0.1/tcp/${gateway}`,
  RPC: `/ip4/127.0.0.1/tcp/${rpc}`,
  Announce: [],
  NoAnnounce: [],
  Delegates: []
}
config.Bootstrap = []
config.Discovery = {
  ...config.Discovery,
  MDNS: { ...(config.Discovery || {}).MDNS, Enabled: false },
  webRTCStar: { ...(config.Discovery || {}).webRTCStar, Enabled: false }
}
config.Pubsub = { ...config.Pubsub, Enabled: false }
config.Routing = { ...config.Routing, Type: 'none' }

// Written next to the file and renamed over it, so a crash never leaves half a config.
fs.writeFileSync(`${file}.tmp`, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
fs.renameSync(`${file}.tmp`, file)
