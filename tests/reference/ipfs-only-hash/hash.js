// Print the CID that `ipfs add --cid-version 1` gives for a file.
//
//   node hash.js FILE [CHUNK_SIZE MAX_LINKS]
//
// ipfs-only-hash 4.0.0 wraps ipfs-unixfs-importer 7.x. Its defaults are the
// go-ipfs/Kubo ones (fixed 262144-byte chunks, balanced layout, 174 links per
// node, sha2-256) except rawLeaves, which Kubo turns on with --cid-version 1
// and which therefore has to be passed explicitly here.
// The optional CHUNK_SIZE and MAX_LINKS override the chunk size and the
// fan-out so that tests can exercise deep trees with little data.
'use strict'

const fs = require('fs')
const Hash = require('ipfs-only-hash')

async function main () {
  const [file, chunkSize, maxLinks] = process.argv.slice(2)
  if (!file) {
    console.error('usage: node hash.js FILE [CHUNK_SIZE MAX_LINKS]')
    process.exit(2)
  }
  const options = { cidVersion: 1, rawLeaves: true }
  if (chunkSize) {
    options.maxChunkSize = Number(chunkSize)
    options.avgChunkSize = Number(chunkSize)
  }
  if (maxLinks) options.maxChildrenPerNode = Number(maxLinks)
  console.log(await Hash.of(fs.readFileSync(file), options))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
