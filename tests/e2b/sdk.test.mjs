// The E2B JavaScript SDK, unchanged (e2b 2.51.0, package.json), against
// `silo serve`: what an agent written for E2B does, pointed at silo by
// E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY alone. Run by
// tests/e2e/test_e2b.py in the lab (real sandboxes): node --test this file,
// with SILO_E2B_SDK the SDK's entry point in the npm cache.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'

const { Sandbox, CommandExitError, SandboxError } = await import(process.env.SILO_E2B_SDK)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

test('a sandbox through the E2B SDK', { timeout: 900_000 }, async (t) => {
  const sbx = await Sandbox.create({
    timeoutMs: 600_000,
    metadata: { suite: 'silo' },
    envs: { FROM_CREATE: 'yes' },
  })
  t.after(() => sbx.kill().catch(() => {}))

  await t.test('list and info', async () => {
    const items = await Sandbox.list().nextItems()
    const mine = items.find((s) => s.sandboxId === sbx.sandboxId)
    assert.ok(mine, JSON.stringify(items))
    assert.deepEqual(mine.metadata, { suite: 'silo' })
    const info = await sbx.getInfo()
    assert.equal(info.state, 'running')
    assert.equal(info.templateId, 'base')
    assert.ok(info.endAt > info.startedAt)
    assert.equal(await sbx.isRunning(), true)
  })

  await t.test('a command in the foreground, its output as it comes', async () => {
    const seen = []
    const r = await sbx.commands.run(
      'whoami; pwd; echo $FROM_CREATE; echo oops >&2; for i in 1 2 3; do echo line$i; sleep 0.5; done',
      { onStdout: (d) => seen.push([Date.now(), d]), onStderr: (d) => seen.push([Date.now(), 'ERR ' + d]) },
    )
    assert.equal(r.exitCode, 0)
    assert.equal(r.stdout, 'user\n/home/user\nyes\nline1\nline2\nline3\n')
    assert.equal(r.stderr, 'oops\n')
    // streamed: the first line came well before the last
    const first = seen.find(([, d]) => d.includes('line1'))[0]
    const last = seen.find(([, d]) => d.includes('line3'))[0]
    assert.ok(last - first >= 700, JSON.stringify(seen))
    assert.ok(seen.some(([, d]) => d === 'ERR oops\n'))
  })

  await t.test('envs, cwd, another user, a failing command', async () => {
    const r = await sbx.commands.run('echo $X; pwd; whoami', { envs: { X: 'set' }, cwd: '/tmp', user: 'root' })
    assert.equal(r.stdout, 'set\n/tmp\nroot\n')
    await assert.rejects(sbx.commands.run('echo no >&2; exit 3'), (e) => {
      assert.ok(e instanceof CommandExitError, String(e))
      assert.equal(e.exitCode, 3)
      assert.equal(e.stderr, 'no\n')
      return true
    })
  })

  await t.test('in the background: stdin, wait, list, kill', async () => {
    const h = await sbx.commands.run('cat', { background: true, stdin: true })
    await sbx.commands.sendStdin(h.pid, 'hello\n')
    await sbx.commands.sendStdin(h.pid, 'again\n')
    await sbx.commands.closeStdin(h.pid)
    const done = await h.wait()
    assert.equal(done.stdout, 'hello\nagain\n')

    const long = await sbx.commands.run('sleep 1000', { background: true, timeoutMs: 0 })
    const procs = await sbx.commands.list()
    assert.ok(procs.some((p) => p.pid === long.pid && p.args.includes('sleep 1000')), JSON.stringify(procs))
    assert.equal(await sbx.commands.kill(long.pid), true)
    await assert.rejects(long.wait(), CommandExitError)
    assert.equal(await sbx.commands.kill(long.pid), false)
    const left = await sbx.commands.run('pgrep -x sleep || true')
    assert.equal(left.stdout, '')
  })

  await t.test('a pty: input and resize', async () => {
    let out = ''
    const dec = new TextDecoder()
    const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += dec.decode(d) } })
    await sbx.pty.resize(pty.pid, { cols: 100, rows: 30 })
    await sleep(300)
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('stty size; tty; exit\n'))
    const r = await pty.wait()
    assert.equal(r.exitCode, 0)
    assert.match(out, /30 100/)
    assert.match(out, /\/dev\/pts\//)
  })

  await t.test('files and directories', async () => {
    const w = await sbx.files.write('hello.txt', 'hello world')
    assert.equal(w.path, '/home/user/hello.txt')
    assert.equal(await sbx.files.read('hello.txt'), 'hello world')
    assert.equal(await sbx.files.read('/home/user/hello.txt'), 'hello world')
    const info = await sbx.files.getInfo('hello.txt')
    assert.equal(info.type, 'file')
    assert.equal(info.size, 11)
    assert.equal(info.owner, 'user')
    assert.equal(await sbx.files.makeDir('dir/sub'), true)
    assert.equal(await sbx.files.makeDir('dir/sub'), false)
    await sbx.files.write('dir/sub/a.txt', 'a')
    const names = (await sbx.files.list('dir', { depth: 2 })).map((e) => e.path).sort()
    assert.deepEqual(names, ['/home/user/dir/sub', '/home/user/dir/sub/a.txt'])
    await sbx.files.rename('dir/sub/a.txt', 'dir/b.txt')
    assert.equal(await sbx.files.read('dir/b.txt'), 'a')
    assert.equal(await sbx.files.exists('dir/sub/a.txt'), false)
    await sbx.files.remove('dir')
    assert.equal(await sbx.files.exists('dir'), false)
    await assert.rejects(sbx.files.read('no-such-file'), /not found|No such file/i)
    const ls = await sbx.commands.run('ls -l hello.txt')
    assert.match(ls.stdout, / user user /)
  })

  await t.test('a file of 100 MB, both ways', async () => {
    const big = new Uint8Array(100 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff
    const want = createHash('sha256').update(big).digest('hex')
    await sbx.files.write('big.bin', big)
    const inside = await sbx.commands.run('sha256sum big.bin')
    assert.equal(inside.stdout.split(' ')[0], want)
    const back = await sbx.files.read('big.bin', { format: 'bytes' })
    assert.equal(back.length, big.length)
    assert.equal(createHash('sha256').update(back).digest('hex'), want)
  })

  await t.test('what silo does not have: a clear error', async () => {
    await assert.rejects(sbx.getMetrics(), (e) => {
      assert.ok(e instanceof SandboxError)
      assert.match(e.message, /not implemented by silo/)
      return true
    })
  })

  await t.test('pause and resume', async () => {
    assert.equal(await sbx.betaPause(), true)
    assert.equal((await sbx.getInfo()).state, 'paused')
    await sbx.connect()
    assert.equal((await sbx.getInfo()).state, 'running')
    assert.equal((await sbx.commands.run('cat hello.txt')).stdout, 'hello world')
  })
})

test('timeouts and kill', { timeout: 600_000 }, async () => {
  const a = await Sandbox.create({ timeoutMs: 600_000 })
  const b = await Sandbox.create({ timeoutMs: 600_000 })
  // kill: gone from the list, a second kill is false
  assert.equal(await a.kill(), true)
  assert.equal(await Sandbox.kill(a.sandboxId), false)
  // the timeout: removed when it passes
  await b.setTimeout(2_000)
  let alive = true
  for (let i = 0; i < 60 && alive; i++) {
    await sleep(1_000)
    alive = await b.isRunning()
  }
  assert.equal(alive, false)
  const ids = (await Sandbox.list().nextItems()).map((s) => s.sandboxId)
  assert.ok(!ids.includes(a.sandboxId) && !ids.includes(b.sandboxId), JSON.stringify(ids))
})

test('from a silo template', { timeout: 600_000 }, async () => {
  // built by test_e2b.py (POST /v1/templates), with /tmp/baked made before
  // its snapshot: a sandbox from it is restored, not booted
  const t = process.env.SILO_E2B_TEMPLATE
  const sbx = await Sandbox.create(t, { timeoutMs: 600_000 })
  try {
    assert.equal((await sbx.getInfo()).templateId, t)
    assert.equal((await sbx.commands.run('cat /tmp/baked; whoami')).stdout, 'baked\nuser\n')
  } finally {
    await sbx.kill()
  }
})
