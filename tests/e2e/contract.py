"""The host<->guest boot contract for the Python tests and benchmarks.

The same names and values as src/proto/contract.h, which silo, silo-vmm and
silo-init are built from; test_contract.py compiles that header and fails
when the two differ. Take these from here instead of writing the literals.
"""
import enum

# vsock addressing: the guest's CID (silo-vmm --vsock CID,PATH) and the port
# silo-init listens on (the host sends "CONNECT <port>\n" on the Unix socket).
GUEST_CID = 3
AGENT_PORT = 1024

# Kernel command-line words; a KEY ends in "=" and its value follows.
ARG_BASE = "silo.base="
ARG_SCRATCH = "silo.scratch="
ARG_HOSTNAME = "silo.hostname="
ARG_IDLE_TRIM = "silo.idle_trim="
ARG_NO_DOCKER = "silo.docker=0"
ARG_NET = "silo.net=1"

# The guest's network (docs/network.md).
NET_IFACE = "silo0"
NET_GUEST_ADDR = "192.0.2.2"
NET_DNS_ADDR = "192.0.2.3"
NET_PREFIX = 24
NET_REDIRECT_PORT = 15001
NET_PORT_FORWARD = 1025
NET_PORT_DNS = 1053
NET_PORT_CONNECT = 1080
# silo-vmm --vsock-peer messages to silo-netd: port and flags, 4 bytes each.
PEER_MSG_SIZE = 8
PEER_TAKES_SOCKET = 1

# The devices behind silo.base and silo.scratch (silo-vmm's --disk order).
BASE_DEV = "/dev/vda"
SCRATCH_DEV = "/dev/vdb"

# The guest's Docker reports, read over the agent.
GUEST_RUN_DIR = "/run/silo"
DOCKER_READY = GUEST_RUN_DIR + "/docker.ready"
DOCKER_FAILED = GUEST_RUN_DIR + "/docker.failed"
DOCKER_LOG = "/var/log/dockerd.log"


class VmmExit(enum.IntEnum):
    """silo-vmm's process exit codes (enum vmm_exit, VMM_EXIT_<name>)."""
    RESET = 0
    INTERNAL = 1
    USAGE = 2
    SETUP = 3
    POWEROFF = 4
    PANIC = 5
    TRIPLE_FAULT = 6
    KVM_ERROR = 7
    BOOT_TIMEOUT = 8
    STOPPED = 9
    SECCOMP = 10


# Every #define of contract.h, by its C name (the Python name with "SILO_").
MACROS = {f"SILO_{k}": v for k, v in dict(globals()).items()
          if k.isupper() and isinstance(v, (int, str))}


def root_words(base=BASE_DEV, scratch=SCRATCH_DEV):
    """The command-line words that give silo-init its base and scratch disks."""
    return f"{ARG_BASE}{base} {ARG_SCRATCH}{scratch}"


def connect_line(port=AGENT_PORT):
    """The hybrid-vsock line that opens a stream to the guest agent."""
    return f"CONNECT {port}\n".encode()
