/* restored.c: what a sandbox's guest needs after silo-vmm --restore (the
 * agent protocol's RESTORED; docs/snapshots.md "The guest after a
 * restore"). Template restores call it (issue 17); it lives here, not in
 * the client library, because the identity is the sandbox's: its name is
 * the hostname every boot gives it (silo.hostname=, vmm_cmd.c). */
#include "sandbox/sandbox.h"
#include "client/client.h"

int sb_restored_try(const struct sandbox *sb, struct aclient_err *err)
{
	/* machine-id NULL: a random one, kept on the sandbox's scratch disk
	 * (/etc is in the overlay's upper layer) across its later boots */
	if (aclient_restored(sb->addr, sb->name, NULL, err) < 0)
		return sb_fail("sandbox %s: the restored guest did not take its new entropy, "
			       "clock and identity: %s",
			       sb->name, err->msg);
	return 0;
}
