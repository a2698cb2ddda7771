/* 8250 UART model and console watcher, without KVM. */
#include <linux/serial_reg.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/console.h"
#include "vmm/devices/legacy/serial.h"

struct sink {
	char out[1024];
	size_t len;
	int irq, irq_changes, rx_ready;
	int events[8];
};

static void tx(void *o, const uint8_t *b, size_t n)
{
	struct sink *s = o;
	memcpy(s->out + s->len, b, n);
	s->len += n;
}

static void irq(void *o, int level)
{
	struct sink *s = o;
	s->irq = level;
	s->irq_changes++;
}

static void rx_ready(void *o)
{
	((struct sink *)o)->rx_ready++;
}

static struct serial *mk(struct sink *s)
{
	struct serial_ops ops = { .tx = tx, .irq = irq, .rx_ready = rx_ready, .opaque = s };
	struct serial *u;

	memset(s, 0, sizeof(*s));
	assert_int_equal(serial_create(&u, &ops), 0);
	return u;
}

static void test_tx_batching(void **state)
{
	struct sink s;
	struct serial *u = mk(&s);
	(void)state;

	serial_write(u, UART_TX, 'h');
	serial_write(u, UART_TX, 'i');
	assert_int_equal(s.len, 0); /* batched until newline / IER write */
	serial_write(u, UART_TX, '\n');
	assert_int_equal(s.len, 3);
	serial_write(u, UART_TX, '#');
	serial_write(u, UART_IER, 0);
	assert_int_equal(s.len, 4);
	assert_memory_equal(s.out, "hi\n#", 4);
	assert_true(serial_read(u, UART_LSR) & UART_LSR_THRE);
	serial_destroy(u);
}

static void test_rx_and_irq(void **state)
{
	struct sink s;
	struct serial *u = mk(&s);
	uint8_t big[100];
	(void)state;

	serial_write(u, UART_MCR, UART_MCR_OUT2);
	serial_write(u, UART_IER, UART_IER_RDI);
	assert_int_equal(s.irq, 0);
	assert_int_equal(serial_rx(u, (const uint8_t *)"ab", 2), 2);
	assert_int_equal(s.irq, 1);
	assert_int_equal(serial_read(u, UART_IIR) & 0x0f, UART_IIR_RDI);
	assert_true(serial_read(u, UART_LSR) & UART_LSR_DR);
	assert_int_equal(serial_read(u, UART_RX), 'a');
	assert_int_equal(serial_read(u, UART_RX), 'b');
	assert_int_equal(s.irq, 0);
	assert_false(serial_read(u, UART_LSR) & UART_LSR_DR);
	/* FIFO of 64: the rest is refused, and draining a full FIFO says so. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(serial_rx(u, big, sizeof(big)), 64);
	assert_int_equal(serial_rx_room(u), 0);
	serial_read(u, UART_RX);
	assert_int_equal(s.rx_ready, 1);
	serial_destroy(u);
}

static void test_thre_irq(void **state)
{
	struct sink s;
	struct serial *u = mk(&s);
	(void)state;

	serial_write(u, UART_MCR, UART_MCR_OUT2);
	serial_write(u, UART_IER, UART_IER_THRI);
	assert_int_equal(s.irq, 1);
	assert_int_equal(serial_read(u, UART_IIR) & 0x0f, UART_IIR_THRI);
	assert_int_equal(s.irq, 0); /* IIR read cleared THRE */
	assert_int_equal(serial_read(u, UART_IIR) & 0x0f, UART_IIR_NO_INT);
	serial_write(u, UART_TX, 'x');
	assert_int_equal(s.irq, 1);
	serial_destroy(u);
}

static void test_loopback_probe(void **state)
{
	struct sink s;
	struct serial *u = mk(&s);
	(void)state;

	/* Linux 8250 autoconfig: MCR = LOOP|OUT2|RTS must give MSR 0x90 in the top nibble. */
	serial_write(u, UART_MCR, UART_MCR_LOOP | 0x0a);
	assert_int_equal(serial_read(u, UART_MSR) & 0xf0, 0x90);
	serial_write(u, UART_SCR, 0xa5);
	assert_int_equal(serial_read(u, UART_SCR), 0xa5);
	serial_write(u, UART_LCR, UART_LCR_DLAB);
	serial_write(u, UART_DLL, 1);
	assert_int_equal(serial_read(u, UART_DLL), 1);
	serial_destroy(u);
}

static void on_event(void *o, enum console_event ev)
{
	((struct sink *)o)->events[ev]++;
}

static void feed(struct console_watch *w, const char *s)
{
	console_watch_feed(w, (const uint8_t *)s, strlen(s));
}

static void test_watch(void **state)
{
	struct console_watch w;
	struct sink s;
	(void)state;

	memset(&s, 0, sizeof(s));
	console_watch_init(&w, "SILO-INIT-OK", on_event, &s);
	feed(&w, "[ 0.0] Linux version\n");
	assert_int_equal(s.events[CON_FIRST_OUTPUT], 1);
	feed(&w, "SILO-INIT");
	assert_int_equal(s.events[CON_MARKER], 0);
	feed(&w, "-OK"); /* split across writes, no newline yet */
	assert_int_equal(s.events[CON_MARKER], 1);
	feed(&w, "\nSILO-INIT-OK\n");
	assert_int_equal(s.events[CON_MARKER], 1); /* once */
	feed(&w, "[ 1.0] Kernel panic - not syncing: VFS\r\n");
	assert_int_equal(s.events[CON_PANIC], 1);
	feed(&w, "[ 2.0] reboot: Power down\n");
	assert_int_equal(s.events[CON_POWEROFF], 1);
	assert_int_equal(s.events[CON_FIRST_OUTPUT], 1);
	/* Very long lines do not overflow and still match near the cut. */
	for (int i = 0; i < 40; i++)
		feed(&w, "0123456789abcdef0123456789abcdef");
	feed(&w, "Kernel panic");
	assert_int_equal(s.events[CON_PANIC], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_batching), cmocka_unit_test(test_rx_and_irq),
		cmocka_unit_test(test_thre_irq),    cmocka_unit_test(test_loopback_probe),
		cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
