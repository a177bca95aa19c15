// Check a CARv1 file the way `ipfs dag import` reads it, and describe it as JSON.
//
//   node car.mjs FILE.car
//
// Reads it with @ipld/car's CarReader; every block's bytes must hash to its CID (sha2-256);
// every dag-pb link from the roots must lead to a block in the file (the DAGs are complete).
// Prints {"version", "roots", "blocks", "bytes"}; exits 1 with the reason otherwise.
import fs from 'node:fs'
import { CarBlockIterator } from '@ipld/car/iterator'
import * as dagPb from '@ipld/dag-pb'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'

const file = process.argv[2]
const reader = await CarBlockIterator.fromIterable(fs.createReadStream(file))
const roots = (await reader.getRoots()).map(String)
const blocks = new Map()
let bytes = 0
for await (const { cid, bytes: data } of reader) {
  const digest = await sha256.digest(data)
  if (cid.multihash.code !== sha256.code || !equals(digest.bytes, cid.multihash.bytes)) {
    console.error(`block ${cid} does not hash to its CID`)
    process.exit(1)
  }
  blocks.set(cid.toString(), cid.code === dagPb.code ? dagPb.decode(data) : null)
  bytes += data.length
}
const seen = new Set()
const stack = [...roots]
while (stack.length) {
  const cid = stack.pop()
  if (seen.has(cid)) continue
  seen.add(cid)
  if (!blocks.has(cid)) {
    console.error(`block ${cid} is linked but missing`)
    process.exit(1)
  }
  const node = blocks.get(cid)
  if (node) for (const link of node.Links) stack.push(link.Hash.toString())
}
console.log(JSON.stringify({ version: reader.version, roots, blocks: blocks.size, reachable: seen.size, bytes }))
