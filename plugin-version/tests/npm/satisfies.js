'use strict'
// Oracle for plugin-version's differential test (tests/npm_differential.rs).
// Reads `VERSION<TAB>CONSTRAINT` lines on stdin and prints, per line,
// `true` or `false` (npm semver.satisfies) or `invalid` when the version
// is not a valid semver or `new semver.Range(constraint)` throws.
// Escapes: `\t`, `\n`, `\r` and `\\` in a field stand for those characters.
const readline = require('readline')
const semver = require('semver')

const unescape = s => s.replace(/\\([tnr\\])/g, (_, c) =>
  ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c])

const out = []
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', line => {
  const tab = line.indexOf('\t')
  const version = unescape(line.slice(0, tab))
  const constraint = unescape(line.slice(tab + 1))
  let answer
  if (semver.valid(version) === null) {
    answer = 'invalid'
  } else {
    try {
      const range = new semver.Range(constraint)
      answer = range.test(version) ? 'true' : 'false'
    } catch (e) {
      answer = 'invalid'
    }
  }
  out.push(answer)
  if (out.length >= 4096) {
    process.stdout.write(out.join('\n') + '\n')
    out.length = 0
  }
})
rl.on('close', () => {
  if (out.length) process.stdout.write(out.join('\n') + '\n')
})
