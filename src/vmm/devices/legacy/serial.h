/* 8250/16550A UART model: the guest console (ttyS0). */
#ifndef SILO_VMM_SERIAL_H
#define SILO_VMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

struct bus_dev;

struct serial_ops {
	/* Bytes the guest transmitted (batched; see serial.c). */
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	/* Interrupt line level changed. */
	void (*irq)(void *opaque, int level);
	/* The RX FIFO drained below full: the backend may deliver input again. */
	void (*rx_ready)(void *opaque);
	void *opaque;
};

struct serial;

int serial_create(struct serial **out, const struct serial_ops *ops);
void serial_destroy(struct serial *s);
/* Window for the port-I/O bus at base (8 ports). */
void serial_bus_dev(struct serial *s, uint64_t base, struct bus_dev *out);
/* Host input: queue up to len bytes for the guest; returns bytes taken. */
size_t serial_rx(struct serial *s, const uint8_t *buf, size_t len);
/* Free space in the RX FIFO. */
size_t serial_rx_room(struct serial *s);
/* Push out buffered TX bytes (at exit). */
void serial_flush(struct serial *s);

/* Register access for tests: off 0..7. */
struct snap_writer;
struct snap_reader;
/* Snapshot (snapshot/state.h): flush TX, save the registers and RX FIFO. */
void serial_save(struct serial *s, struct snap_writer *w);
/* Restore them; -EINVAL on a missing or bad record. */
int serial_restore(struct serial *s, const struct snap_reader *r);

uint8_t serial_read(struct serial *s, unsigned int off);
void serial_write(struct serial *s, unsigned int off, uint8_t val);

#endif
