// Print the root CID that `ipfs add -r --cid-version 1 --raw-leaves DIR` gives for a directory tree.
//
//   node dir.mjs DIR
//
// ipfs-unixfs-importer 17 with Kubo's defaults for that command: CIDv1, raw leaves, fixed
// 262144-byte chunks, balanced layout (174 links per node), sha2-256, and the tree's files given
// relative to DIR with wrapWithDirectory, so the last entry is DIR itself (no mode, no mtime).
import fs from 'node:fs'
import path from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import { MemoryBlockstore } from 'blockstore-core/memory'

function * walk (root, dir = '') {
  for (const name of fs.readdirSync(path.join(root, dir)).sort()) {
    const rel = dir ? `${dir}/${name}` : name
    const full = path.join(root, rel)
    if (fs.statSync(full).isDirectory()) yield * walk(root, rel)
    else yield { path: rel, content: fs.createReadStream(full) }
  }
}

const dir = process.argv[2]
if (!dir) {
  console.error('usage: node dir.mjs DIR')
  process.exit(2)
}
let last = null
for await (const entry of importer(walk(dir), new MemoryBlockstore(), {
  cidVersion: 1,
  rawLeaves: true,
  wrapWithDirectory: true
})) {
  last = entry
}
console.log(last.cid.toString())
