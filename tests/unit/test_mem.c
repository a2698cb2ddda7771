/*
 * Unit tests for guest RAM mappings (mem.c): every region is writable end to
 * end and fenced by PROT_NONE guards, so a device that indexes past guest
 * RAM faults (issue 14: ring writes landed up to 512 KiB past guest RAM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/mem.h"

/* Touch p in a child; return the signal that killed it (0: it survived). */
static int touch_in_child(volatile uint8_t *p, bool write)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		if (write)
			*p = 0x5a;
		else
			(void)*p;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void test_regions_are_fenced(void **state)
{
	struct guest_mem m = { .nr = 2 };
	const uint64_t sz0 = 3ULL << 20, sz1 = 1ULL << 20;

	(void)state;
	m.r[0] = (struct guest_region){ .gpa = 0, .size = sz0 };
	m.r[1] = (struct guest_region){ .gpa = 4ULL << 30, .size = sz1 };
	assert_int_equal(guest_mem_map(&m, false), 0);
	for (unsigned int i = 0; i < m.nr; i++) {
		uint8_t *h = m.r[i].hva;
		uint64_t sz = m.r[i].size;

		assert_non_null(h);
		/* Aligned for THP, and congruent with the guest address. */
		assert_int_equal((uintptr_t)h % GUEST_MEM_GUARD, 0);
		/* Usable end to end, in this process and in a child. */
		h[0] = 1;
		h[sz - 1] = 2;
		assert_int_equal(touch_in_child(h, true), 0);
		assert_int_equal(touch_in_child(h + sz - 1, true), 0);
		/* The bytes just outside, and the far end of each guard, fault. */
		assert_int_equal(touch_in_child(h - 1, false), SIGSEGV);
		assert_int_equal(touch_in_child(h + sz, true), SIGSEGV);
		assert_int_equal(touch_in_child(h - GUEST_MEM_GUARD, true), SIGSEGV);
		assert_int_equal(touch_in_child(h + sz + GUEST_MEM_GUARD - 1, true), SIGSEGV);
		assert_ptr_equal(gpa_to_hva(&m, m.r[i].gpa + sz - 1, 1), h + sz - 1);
	}
	/* Regions are not adjacent on the host either: a guard lies between. */
	assert_true(m.r[1].hva >= m.r[0].hva + sz0 + GUEST_MEM_GUARD);
	guest_mem_unmap(&m);
	assert_null(m.map);
	assert_null(m.r[0].hva);
	guest_mem_unmap(&m); /* idempotent */
}

static void test_odd_size_and_errors(void **state)
{
	struct guest_mem m = { .nr = 1 };
	uint8_t *h;

	(void)state;
	/* A size that is not a multiple of the guard still gets a full guard. */
	m.r[0] = (struct guest_region){ .gpa = 0x1000, .size = 0x5000 };
	assert_int_equal(guest_mem_map(&m, true), 0);
	h = m.r[0].hva;
	memset(h, 0xff, 0x5000);
	assert_int_equal(touch_in_child(h + 0x5000, true), SIGSEGV);
	assert_int_equal(touch_in_child(h + 0x5000 + GUEST_MEM_GUARD - 1, true), SIGSEGV);
	guest_mem_unmap(&m);

	m.nr = 0;
	assert_int_equal(guest_mem_map(&m, false), -EINVAL);
	m.nr = 1;
	m.r[0].size = 0;
	assert_int_equal(guest_mem_map(&m, false), -EINVAL);
	assert_null(m.map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regions_are_fenced),
		cmocka_unit_test(test_odd_size_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
