// bench/serve.py's SDK figure: from Sandbox.create() to the first output
// of a command, through the unchanged E2B SDK (tests/e2b). One line of JSON:
// {"create_ms", "first_output_ms"} from the call to create. argv[2]: the
// template ("base": the default image, booted).
const { Sandbox } = await import(process.env.SILO_E2B_SDK)

const t0 = performance.now()
const sbx = await Sandbox.create(process.argv[2] || 'base', { timeoutMs: 600_000 })
const created = performance.now()
let first = null
await sbx.commands.run('echo ready', {
  onStdout: () => {
    if (first === null) first = performance.now()
  },
})
await sbx.kill()
console.log(JSON.stringify({ create_ms: created - t0, first_output_ms: first - t0 }))
