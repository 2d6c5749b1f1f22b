// Loads a Chrome trace into speedscope in headless Chromium (through the DevTools protocol,
// with nothing but Node's own WebSocket) and reports what speedscope made of it: the profiles
// (one per track), the warnings its importer printed (frames ended out of order, frames left
// open), the rows its sandwich view lists for one component, and a screenshot.
//
// node --experimental-websocket speedscope-check.mjs SPEEDSCOPE_DIR TRACE.json OUT_DIR
//        [COMPONENT] [EXPECTED_TRACKS]
// Chromium must be listening on $CDP_PORT (speedscope-check.sh starts it).
import fs from 'node:fs'
import path from 'node:path'

const [speedscopeDir, tracePath, outDir, component = 'block/self_attn/sdpa', expected = ''] = process.argv.slice(2)
const port = process.env.CDP_PORT || '9222'
const sleep = ms => new Promise(r => setTimeout(r, ms))

// The profile as a script that hands it to speedscope, as speedscope's own command line does.
fs.mkdirSync(outDir, { recursive: true })
const profileJs = path.resolve(outDir, 'profile.js')
const base64 = fs.readFileSync(tracePath).toString('base64')
fs.writeFileSync(profileJs, `speedscope.loadFileFromBase64(${JSON.stringify(path.basename(tracePath))}, ${JSON.stringify(base64)})`)
const url = 'file://' + path.resolve(speedscopeDir, 'index.html') + '#localProfilePath=' + profileJs

let target
for (let i = 0; i < 100 && !target; i++) {
  try {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()
    target = list.find(t => t.type === 'page')
  } catch {
    await sleep(100)
  }
}
if (!target) throw new Error(`no Chromium page on port ${port}`)
const ws = new WebSocket(target.webSocketDebuggerUrl)
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject })
let nextId = 1
const pending = new Map()
const consoleLines = []
ws.onmessage = ev => {
  const msg = JSON.parse(ev.data)
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg)
    pending.delete(msg.id)
  } else if (msg.method === 'Runtime.consoleAPICalled') {
    consoleLines.push(`${msg.params.type}: ${msg.params.args.map(a => a.value ?? a.description ?? '').join(' ')}`)
  } else if (msg.method === 'Runtime.exceptionThrown') {
    consoleLines.push(`exception: ${msg.params.exceptionDetails.exception?.description ?? msg.params.exceptionDetails.text}`)
  }
}
const send = (method, params = {}) => new Promise(resolve => {
  const id = nextId++
  pending.set(id, resolve)
  ws.send(JSON.stringify({ id, method, params }))
})
const evaluate = async expression => (await send('Runtime.evaluate', { expression, returnByValue: true })).result?.result?.value

await send('Runtime.enable')
await send('Page.enable')
await send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 900, deviceScaleFactor: 1, mobile: false })
await send('Page.navigate', { url })

// Wait for speedscope to show the profile: its toolbar then names it.
let toolbar = ''
for (let i = 0; i < 300; i++) {
  toolbar = await evaluate(`document.body ? document.body.innerText : ''`) || ''
  if (/\(\d+\/\d+\)/.test(toolbar) || /Time Order/.test(toolbar) && !/Drag and drop/.test(toolbar)) break
  await sleep(100)
}
await sleep(500)
const shot = async name => {
  const png = await send('Page.captureScreenshot', { format: 'png' })
  fs.writeFileSync(path.join(outDir, name), Buffer.from(png.result.data, 'base64'))
}
await shot('speedscope-time-order.png')
const counter = (toolbar.match(/\((\d+)\/(\d+)\)/) || [])
const tracks = counter[2] ? Number(counter[2]) : (toolbar.includes('Time Order') ? 1 : 0)

// Sandwich view (key 3): its table lists each frame once; count the rows for the component.
await send('Input.dispatchKeyEvent', { type: 'keyDown', key: '3', text: '3', code: 'Digit3', windowsVirtualKeyCode: 51 })
await send('Input.dispatchKeyEvent', { type: 'keyUp', key: '3', code: 'Digit3', windowsVirtualKeyCode: 51 })
await sleep(1000)
const sandwich = await evaluate(`document.body.innerText`) || ''
fs.writeFileSync(path.join(outDir, 'sandwich.txt'), sandwich)
// A row per distinct frame key: the name alone, or the name and its arguments.
const rows = sandwich.split('\n').filter(l => l.split('\t').map(c => c.trim()).some(c => c === component || c.startsWith(component + ' {'))).length
await shot('speedscope-sandwich.png')
ws.close()

const warnings = consoleLines.filter(l => /Tried to end|still open|exception|error/i.test(l))
const report = {
  trace: tracePath,
  tracks,
  expected_tracks: expected ? Number(expected) : null,
  toolbar: toolbar.split('\n').slice(0, 3).join(' | '),
  sandwich_rows_for_component: { component, rows },
  nesting_warnings: warnings.length,
  first_warnings: warnings.slice(0, 5),
  screenshots: ['speedscope-time-order.png', 'speedscope-sandwich.png'].map(f => path.join(outDir, f)),
}
console.log(JSON.stringify(report, null, 2))
const ok = tracks > 0 && warnings.length === 0 && rows === 1 && (!expected || tracks === Number(expected))
process.exit(ok ? 0 : 1)
