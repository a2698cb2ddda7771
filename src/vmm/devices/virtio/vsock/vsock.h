/*
 * virtio-vsock device (VIRTIO 1.2 §5.10) with Firecracker's "hybrid vsock"
 * host side: AF_UNIX sockets instead of vhost-vsock (docs/silo-vmm.md "vsock: the host side").
 *
 *   host -> guest: connect to uds_path, write "CONNECT <port>\n", read
 *                  "OK <local_port>\n", then the stream is the guest's.
 *   guest -> host: a guest connect to (CID 2, port P) reaches whoever
 *                  listens on "<uds_path>_<P>".
 */
#ifndef SILO_VMM_VSOCK_H
#define SILO_VMM_VSOCK_H

#include <stdint.h>

struct vdev;
struct evloop;

/*
 * virtio_vsock_create - bind/listen on uds_path and build the device.
 * guest_cid: 3 .. 0xfffffffe (§5.10.4: upper 32 bits reserved; 0-2 and
 * VMADDR_CID_ANY are not guest CIDs). ev: the loop whose thread serves the
 * device's sockets (may be NULL: then call virtio_vsock_poll() yourself).
 * Returns 0 or -errno (host-side setup errors only).
 */
int virtio_vsock_create(struct vdev **out, uint64_t guest_cid, const char *uds_path,
			struct evloop *ev);

/* How long a guest may take to answer a host CONNECT (REQUEST -> RESPONSE)
 * before the host client is closed on; default VSOCK_CONNECT_TIMEOUT_MS. */
void virtio_vsock_set_connect_timeout(struct vdev *vd, unsigned int ms);

/* Handle whatever host-socket events are ready, without blocking (tests, no ev). */
void virtio_vsock_poll(struct vdev *vd);

#endif
