/* contract.h: the boot contract between the host (silo, silo-vmm) and the
 * guest (silo-init). Every name one side sets and the other reads is spelled
 * here once; both sides include this header, so a change reaches both in the
 * same build. Plain constants only: silo-init (static, musl), the host CLI
 * and library, and silo-vmm all include it.
 *
 * tests/e2e/contract.py carries the same values for the Python tests and
 * benchmarks; tests/e2e/test_contract.py fails when the two differ.
 */
#ifndef SILO_CONTRACT_H
#define SILO_CONTRACT_H

/* --- vsock addressing ---------------------------------------------------- */
/* The guest's CID (silo-vmm --vsock CID,PATH): the lowest one a guest may
 * have, 0-2 being reserved (virtio spec 1.2 §5.10.4). */
#define SILO_GUEST_CID	3u
/* AF_VSOCK port silo-init listens on; the host reaches it through
 * silo-vmm's Unix socket with "CONNECT <port>\n" (docs/agent-protocol.md). */
#define SILO_AGENT_PORT 1024u

/* --- kernel command-line words (the host writes them, silo-init reads
 * /proc/cmdline; src/agent/init.c says what each does). A KEY ends in '=' and
 * its value follows; the guest matches strlen(KEY) bytes. ---------------- */
#define SILO_ARG_BASE	   "silo.base="	     /* read-only base image device */
#define SILO_ARG_SCRATCH   "silo.scratch="   /* per-sandbox scratch device */
#define SILO_ARG_HOSTNAME  "silo.hostname="  /* the guest's hostname */
#define SILO_ARG_IDLE_TRIM "silo.idle_trim=" /* seconds idle before trimming */
#define SILO_ARG_NO_DOCKER "silo.docker=0"   /* a whole word: no dockerd */
#define SILO_ARG_NET \
	"silo.net=1" /* a whole word: set up egress
                                                * (absent: --network none) */

/* The devices behind silo.base and silo.scratch: silo-vmm gives its --disk
 * options virtio-blk devices in order, which the guest names vda, vdb. */
#define SILO_BASE_DEV	 "/dev/vda"
#define SILO_SCRATCH_DEV "/dev/vdb"

/* --- the guest's reports, read by the host over the agent ----------------- */
#define SILO_GUEST_RUN_DIR "/run/silo"
/* dockerd answered; content: milliseconds since boot */
#define SILO_DOCKER_READY  SILO_GUEST_RUN_DIR "/docker.ready"
/* dockerd never will; content: "<ms> ms: <reason>" */
#define SILO_DOCKER_FAILED SILO_GUEST_RUN_DIR "/docker.failed"
/* dockerd's own log, whose end the host quotes beside that reason */
#define SILO_DOCKER_LOG	   "/var/log/dockerd.log"

/* --- the guest's network (docs/network.md) -------------------------------
 * silo-init gives the guest a dummy interface and a default route through
 * it; iptables (nft backend) redirects outbound TCP to the forwarder, which
 * carries each connection over vsock to the host broker, silo-netd. The
 * addresses are TEST-NET-1 (RFC 5737): never a real destination, and in
 * none of Docker's default address pools, so no container network of the
 * guest's Docker collides with them. The host never routes to them. */
#define SILO_NET_IFACE	    "silo0"
#define SILO_NET_GUEST_ADDR "192.0.2.2" /* the guest's own address, /24 */
#define SILO_NET_DNS_ADDR \
	"192.0.2.3" /* resolv.conf; not loopback, or
                                               * Docker gives containers 8.8.8.8 */
#define SILO_NET_PREFIX	       24
/* The guest's forwarder listens on 0.0.0.0 at this TCP port: REDIRECT sends
 * local connections to 127.0.0.1 and containers' to their bridge address. */
#define SILO_NET_REDIRECT_PORT 15001u
/* vsock ports (the same numbers as src/net/wire.h, which the broker and the
 * forwarder encode headers with): guest -> host CONNECT and DNS reach the
 * host at "<vsock path>_<port>" (silo-vmm's Firecracker-style mapping);
 * host -> guest FORWARD goes through silo-vmm's socket, "CONNECT 1025\n". */
#define SILO_NET_PORT_FORWARD  1025u
#define SILO_NET_PORT_DNS      1053u
#define SILO_NET_PORT_CONNECT  1080u

/* --- silo-vmm --vsock-peer -> silo-netd --peer-fd (host side only) --------
 * One SOCK_SEQPACKET message per guest stream: the port as 4 bytes little
 * endian, then 4 bytes of flags (little endian; a bare 4-byte message means
 * flags 0), with the stream's descriptor (docs/silo-vmm.md "vsock"). */
#define SILO_PEER_MSG_SIZE     8u
/* silo-vmm takes a socket back on this stream: the peer may attach the
 * destination's connected socket to its reply, drain what it was sent, end
 * its side, and leave the relaying to silo-vmm (docs/network.md). */
#define SILO_PEER_TAKES_SOCKET 1u

/* --- silo-vmm's process exit codes --------------------------------------- */
/* Each names one way a VM can end. Documented in docs/silo-vmm.md and
 * `silo-vmm --help` (src/vmm/main.c); tests/e2e/test_contract.py checks the
 * help against this list. */
enum vmm_exit {
	VMM_EXIT_RESET = 0,	   /* guest reset the machine (reboot=k → i8042) */
	VMM_EXIT_INTERNAL = 1,	   /* VMM failure after the guest started */
	VMM_EXIT_USAGE = 2,	   /* bad command line */
	VMM_EXIT_SETUP = 3,	   /* host setup failed (KVM, files, sockets) */
	VMM_EXIT_POWEROFF = 4,	   /* guest powered off or halted */
	VMM_EXIT_PANIC = 5,	   /* guest kernel panic */
	VMM_EXIT_TRIPLE_FAULT = 6, /* KVM_EXIT_SHUTDOWN */
	VMM_EXIT_KVM_ERROR = 7,	   /* KVM could not run the guest (internal error,
                                    * emulation failure, failed entry) */
	VMM_EXIT_BOOT_TIMEOUT = 8, /* boot not complete within --boot-timeout */
	VMM_EXIT_STOPPED = 9,	   /* stopped by the host: control `stop`,
                                    * SIGTERM/SIGINT/SIGHUP, Ctrl-A x */
	VMM_EXIT_SECCOMP = 10,	   /* a thread made a syscall outside its
                                    * seccomp allowlist (src/vmm/jail/) */
};

/* silo-netd's exit code after a syscall outside its seccomp allowlist
 * (src/netd/jail.c); the supervisor says so (src/sandbox/supervise.c). */
#define NETD_EXIT_SECCOMP 159

#endif
