/* proto_restored.c: the RESTORED frame (host -> agent after a snapshot
 * restore, docs/agent-protocol.md "Lifecycle"). Its payload has a fixed
 * layout, struct proto_wire_restored; every field is checked on both sides,
 * so the host never sends what the guest would refuse. */
#include "proto/proto.h"

#include <endian.h>
#include <stddef.h>
#include <string.h>

#define WIRE(field) offsetof(struct proto_wire_restored, field)

/* The encoder appends the fields in this order: the layout must agree. */
_Static_assert(WIRE(flags) == 0 && WIRE(realtime_nsec) == 4 && WIRE(realtime_sec) == 8 &&
		       WIRE(entropy) == 16 && WIRE(machine_id) == 80 && WIRE(hostname) == 112,
	       "struct proto_wire_restored has no padding");

bool proto_hostname_valid(const char *s)
{
	size_t n = strnlen(s, PROTO_HOSTNAME_MAX + 1);

	if (n == 0 || n > PROTO_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '.' && c != '_')))
			return false;
	}
	return true;
}

bool proto_machine_id_valid(const char *s)
{
	bool nonzero = false;

	if (strnlen(s, PROTO_MACHINE_ID_LEN + 1) != PROTO_MACHINE_ID_LEN)
		return false;
	for (size_t i = 0; i < PROTO_MACHINE_ID_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		nonzero |= s[i] != '0';
	}
	return nonzero; /* all zero is "no id" to systemd (sd_id128_is_null) */
}

int proto_restored_check(const struct proto_restored *r)
{
	if (r->flags != 0 || r->realtime_sec < 0 || r->realtime_nsec >= 1000000000u ||
	    !proto_hostname_valid(r->hostname) || !proto_machine_id_valid(r->machine_id))
		return -EINVAL;
	return 0;
}

void proto_enc_restored(struct pbuf *b, const struct proto_restored *r)
{
	char host[PROTO_HOSTNAME_MAX] = { 0 };
	uint8_t hdr[PROTO_HDR_SIZE];

	if (proto_restored_check(r) < 0) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	memcpy(host, r->hostname, strlen(r->hostname));
	proto_hdr_encode(hdr, PT_RESTORED, sizeof(struct proto_wire_restored));
	pbuf_put(b, hdr, sizeof(hdr));
	pbuf_u32(b, r->flags);
	pbuf_u32(b, r->realtime_nsec);
	pbuf_u64(b, (uint64_t)r->realtime_sec);
	pbuf_put(b, r->entropy, PROTO_ENTROPY_LEN);
	pbuf_put(b, r->machine_id, PROTO_MACHINE_ID_LEN);
	pbuf_put(b, host, sizeof(host));
}

static uint32_t le32_at(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return le32toh(v);
}

int proto_dec_restored(const struct proto_frame *f, struct proto_restored *r)
{
	const uint8_t *p = f->payload;
	uint64_t sec;

	memset(r, 0, sizeof(*r));
	if (f->type != PT_RESTORED)
		return -EPROTO;
	if (f->len != sizeof(struct proto_wire_restored))
		return -EBADMSG;
	r->flags = le32_at(p, WIRE(flags));
	r->realtime_nsec = le32_at(p, WIRE(realtime_nsec));
	memcpy(&sec, p + WIRE(realtime_sec), sizeof(sec));
	r->realtime_sec = (int64_t)le64toh(sec);
	memcpy(r->entropy, p + WIRE(entropy), PROTO_ENTROPY_LEN);
	memcpy(r->machine_id, p + WIRE(machine_id), PROTO_MACHINE_ID_LEN);
	memcpy(r->hostname, p + WIRE(hostname), PROTO_HOSTNAME_MAX);
	/* NUL padding only: a NUL followed by more bytes would hide them
	 * from the checks below. */
	size_t n = strnlen(r->hostname, PROTO_HOSTNAME_MAX);
	for (size_t i = n; i < PROTO_HOSTNAME_MAX; i++)
		if (p[WIRE(hostname) + i])
			return -EBADMSG;
	return proto_restored_check(r) < 0 ? -EBADMSG : 0;
}
