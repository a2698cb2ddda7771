"""The Python library the end-to-end tests (tests/e2e) and the benchmarks
(bench/) share, as Firecracker's tests/framework serves its functional and
performance tests: where the build is, silo-vmm's control socket, the guest
agent's wire protocol, a sandbox VM booted with the agent, RSS readings.

It raises plain exceptions, never pytest's: a test turns them into failures,
a benchmark into its exit message. Importers put tests/ on sys.path.
"""
