// The official MCP TypeScript SDK's client (package.json) against `silo
// mcp`: what an MCP-capable agent configured with silo does. Run by
// tests/e2e/test_mcp.py in the lab: SILO_MCP_SDK is the SDK's directory,
// SILO the silo executable; the environment carries silo's directories.
import { test } from 'node:test'
import assert from 'node:assert/strict'

const sdk = process.env.SILO_MCP_SDK
const { Client } = await import(`${sdk}/dist/esm/client/index.js`)
const { StdioClientTransport } = await import(`${sdk}/dist/esm/client/stdio.js`)

const text = (r) => r.content.map((c) => c.text).join('')

test('a sandbox through MCP', { timeout: 600_000 }, async () => {
  const transport = new StdioClientTransport({ command: process.env.SILO, args: ['mcp'], env: process.env, stderr: 'inherit' })
  const client = new Client({ name: 'silo-test', version: '1.0.0' })
  await client.connect(transport)
  assert.equal(client.getServerVersion().name, 'silo')

  const { tools } = await client.listTools()
  assert.deepEqual(tools.map((t) => t.name).sort(),
    ['file_read', 'file_write', 'sandbox_create', 'sandbox_exec', 'sandbox_list', 'sandbox_remove'])

  // a tool that fails says why, as a result the model reads
  const missing = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox: 'nope', command: 'true' } })
  assert.equal(missing.isError, true)
  assert.match(text(missing), /no such sandbox: nope/)

  const made = await client.callTool({ name: 'sandbox_create', arguments: { name: 'mcp-box', memory: '256M', docker: false } })
  assert.equal(made.isError, false, text(made))
  assert.match(text(made), /sandbox mcp-box is running/)

  const run = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox: 'mcp-box', command: 'whoami; pwd; echo err >&2' } })
  assert.equal(run.isError, false)
  assert.equal(text(run), 'exit code 0\n--- stdout ---\nagent\n/workspace\n--- stderr ---\nerr\n')
  const fail = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox: 'mcp-box', command: 'exit 4' } })
  assert.equal(fail.isError, true)
  assert.match(text(fail), /^exit code 4/)

  const w = await client.callTool({ name: 'file_write', arguments: { sandbox: 'mcp-box', path: 'src/hello.py', content: 'print("hi from silo")\n' } })
  assert.equal(w.isError, false, text(w))
  const r = await client.callTool({ name: 'file_read', arguments: { sandbox: 'mcp-box', path: '/workspace/src/hello.py' } })
  assert.equal(text(r), 'print("hi from silo")\n')
  const py = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox: 'mcp-box', command: 'python3 src/hello.py; stat -c %U src/hello.py' } })
  assert.match(text(py), /hi from silo\nagent\n/)
  const nofile = await client.callTool({ name: 'file_read', arguments: { sandbox: 'mcp-box', path: 'nope.txt' } })
  assert.equal(nofile.isError, true)

  assert.match(text(await client.callTool({ name: 'sandbox_list', arguments: {} })), /mcp-box running/)
  const rm = await client.callTool({ name: 'sandbox_remove', arguments: { sandbox: 'mcp-box' } })
  assert.equal(rm.isError, false, text(rm))
  assert.match(text(await client.callTool({ name: 'sandbox_list', arguments: {} })), /no sandboxes/)
  await client.close()
})
