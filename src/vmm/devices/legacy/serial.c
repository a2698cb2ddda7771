/*
 * 8250/16550A UART (National Semiconductor PC16550D datasheet; Linux
 * include/uapi/linux/serial_reg.h for the bit names). Enough for the Linux
 * 8250 driver's autoconfig, its console and an interactive tty:
 * a 64-byte RX FIFO fed by the host, an always-empty transmitter, the
 * RX-data and THR-empty interrupts, and loopback for the probe.
 *
 * Runs on vCPU threads (register access) and the event thread (host input),
 * so all state is under one mutex. TX bytes are batched and handed to the
 * backend at a newline, when the batch is full, or when the guest writes IER:
 * the Linux console write path restores IER after every message and the tty
 * path clears THRI when its buffer is empty, so nothing waits long.
 */
#include "vmm/devices/legacy/serial.h"

#include <errno.h>
#include <linux/serial_reg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bus.h"
#include "vmm/snapshot/state.h"

#define RX_FIFO	 64
#define TX_BATCH 256

struct serial {
	pthread_mutex_t lock;
	struct serial_ops ops;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_ipending; /* THRE interrupt latched, cleared by IIR read or THR write */
	int irq_level;
	uint8_t rx[RX_FIFO];
	unsigned int rx_head, rx_len;
	uint8_t tx[TX_BATCH];
	size_t tx_len;
};

int serial_create(struct serial **out, const struct serial_ops *ops)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->ops = *ops;
	s->mcr = UART_MCR_OUT2;
	s->dll = 0x0c; /* 9600 baud, the reset divisor */
	*out = s;
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	serial_flush(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void tx_flush_locked(struct serial *s)
{
	if (s->tx_len && s->ops.tx)
		s->ops.tx(s->ops.opaque, s->tx, s->tx_len);
	s->tx_len = 0;
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	tx_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static uint8_t iir_locked(struct serial *s)
{
	uint8_t fifo = (s->fcr & UART_FCR_ENABLE_FIFO) ? 0xc0 : 0;

	/* Priority (datasheet table 4): RX data above THR empty. */
	if ((s->ier & UART_IER_RDI) && s->rx_len)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		return fifo | UART_IIR_THRI;
	return fifo | UART_IIR_NO_INT;
}

/* Drive the IRQ line from the pending sources; edges on change only. */
static void update_irq_locked(struct serial *s)
{
	int level = !(iir_locked(s) & UART_IIR_NO_INT) && (s->mcr & UART_MCR_OUT2);

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->ops.irq)
			s->ops.irq(s->ops.opaque, level);
	}
}

static size_t rx_push_locked(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && s->rx_len < RX_FIFO) {
		s->rx[(s->rx_head + s->rx_len) % RX_FIFO] = buf[n++];
		s->rx_len++;
	}
	return n;
}

size_t serial_rx(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = rx_push_locked(s, buf, len);
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = RX_FIFO - s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Modem status: in loopback the outputs feed the inputs (datasheet §8.6),
 * which the Linux probe checks; otherwise carrier, DSR and CTS are up. */
static uint8_t msr_locked(struct serial *s)
{
	if (s->mcr & UART_MCR_LOOP) {
		uint8_t m = 0;
		if (s->mcr & UART_MCR_RTS)
			m |= UART_MSR_CTS;
		if (s->mcr & UART_MCR_DTR)
			m |= UART_MSR_DSR;
		if (s->mcr & UART_MCR_OUT1)
			m |= UART_MSR_RI;
		if (s->mcr & UART_MCR_OUT2)
			m |= UART_MSR_DCD;
		return m;
	}
	return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
}

uint8_t serial_read(struct serial *s, unsigned int off)
{
	bool drained = false;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RX:
		if (s->lcr & UART_LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO;
			drained = s->rx_len-- == RX_FIFO;
		}
		break;
	case UART_IER:
		v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = iir_locked(s);
		/* Reading IIR while THRE is the reported source clears it. */
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_ipending = false;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		/* The transmitter is always empty: bytes leave at THR write. */
		v = UART_LSR_TEMT | UART_LSR_THRE | (s->rx_len ? UART_LSR_DR : 0);
		break;
	case UART_MSR:
		v = msr_locked(s);
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (drained && s->ops.rx_ready)
		s->ops.rx_ready(s->ops.opaque);
	return v;
}

void serial_write(struct serial *s, unsigned int off, uint8_t val)
{
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_TX:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
			break;
		}
		if (s->mcr & UART_MCR_LOOP) {
			rx_push_locked(s, &val, 1);
		} else {
			s->tx[s->tx_len++] = val;
			if (val == '\n' || s->tx_len == TX_BATCH)
				tx_flush_locked(s);
		}
		s->thr_ipending = true; /* sent at once: THR empty again */
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling THRI with an empty THR raises THRE at once (the
		 * Linux driver relies on this to start transmitting). */
		if (!(s->ier & UART_IER_THRI) && (val & UART_IER_THRI))
			s->thr_ipending = true;
		s->ier = val & 0x0f;
		tx_flush_locked(s);
		break;
	case UART_FCR:
		s->fcr = val & (UART_FCR_ENABLE_FIFO | 0xc0);
		if (val & UART_FCR_CLEAR_RCVR)
			s->rx_len = 0;
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & 0x1f;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default: /* LSR, MSR: read-only */
		break;
	}
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void bus_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	/* Byte registers; wider accesses read the first and pad. */
	memset(data, 0, len);
	data[0] = serial_read(opaque, (unsigned int)off);
}

static void bus_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	(void)len;
	serial_write(opaque, (unsigned int)off, data[0]);
}

void serial_bus_dev(struct serial *s, uint64_t base, struct bus_dev *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "serial";
	out->base = base;
	out->len = 8;
	out->read = bus_read;
	out->write = bus_write;
	out->opaque = s;
}

/* The UART in a snapshot (snapshot/state.h): registers, the pending THRE
 * interrupt, the line level (the irqchip's own state holds the pin) and
 * the RX FIFO in order. The TX batch is flushed to the console first. */
struct snap_serial {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, thr_ipending;
	uint8_t irq_level, rx_len, reserved[6];
	uint8_t rx[RX_FIFO];
};
_Static_assert(sizeof(struct snap_serial) == 16 + RX_FIFO, "snap_serial is 80 bytes on disk");

void serial_save(struct serial *s, struct snap_writer *w)
{
	struct snap_serial ss = { 0 };

	pthread_mutex_lock(&s->lock);
	tx_flush_locked(s);
	ss = (struct snap_serial){ .ier = s->ier,
				   .lcr = s->lcr,
				   .mcr = s->mcr,
				   .scr = s->scr,
				   .fcr = s->fcr,
				   .dll = s->dll,
				   .dlm = s->dlm,
				   .thr_ipending = s->thr_ipending,
				   .irq_level = (uint8_t)s->irq_level,
				   .rx_len = (uint8_t)s->rx_len };
	for (unsigned int i = 0; i < s->rx_len; i++)
		ss.rx[i] = s->rx[(s->rx_head + i) % RX_FIFO];
	pthread_mutex_unlock(&s->lock);
	snap_put(w, SNAP_REC_SERIAL, 0, &ss, sizeof(ss));
}

int serial_restore(struct serial *s, const struct snap_reader *r)
{
	struct snap_serial ss;

	if (snap_get_exact(r, SNAP_REC_SERIAL, 0, &ss, sizeof(ss)) || ss.rx_len > RX_FIFO)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = ss.ier;
	s->lcr = ss.lcr;
	s->mcr = ss.mcr;
	s->scr = ss.scr;
	s->fcr = ss.fcr;
	s->dll = ss.dll;
	s->dlm = ss.dlm;
	s->thr_ipending = ss.thr_ipending != 0;
	s->irq_level = ss.irq_level != 0;
	s->rx_head = 0;
	s->rx_len = ss.rx_len;
	memcpy(s->rx, ss.rx, sizeof(s->rx));
	pthread_mutex_unlock(&s->lock);
	return 0;
}
