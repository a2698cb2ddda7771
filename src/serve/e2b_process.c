/* e2b_process.c: envd's process.Process service (docs/api-e2b.md 4.4).
 *
 * Start runs a command as run.c does and streams ProcessEvents as Connect
 * envelopes: start{pid}, data{stdout|stderr|pty}..., end, then the end of
 * the stream. The pid is the server's own number for the command (the
 * guest's is not known to the host), unique in the server: what the SDK
 * passes back to SendInput, SendSignal, CloseStdin and Update, which reach
 * the command through the table below while its stream is open elsewhere.
 *
 * As envd does, a client that disconnects leaves the command running
 * (commands run in the background are meant to outlive a handle); its
 * output is read and dropped until it ends, and Connect-Timeout-Ms, the
 * SDK's own deadline for it, is the command's timeout. A PTY is a host
 * pseudo-terminal pair that only holds the window size: the agent reads
 * it on SIGWINCH (client.h), which is how Update resizes.
 */
#include "serve/e2b.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CHUNK	  (24 * 1024)
#define FRAME_MAX (CHUNK * 4 / 3 + 256)
#define KEEPALIVE 30000 /* ms: an event on an idle stream, as envd sends */
#define MAX_PROCS 1024	/* per server */

struct proc {
	struct proc *next;
	char sandbox[SB_NAME_MAX + 1];
	unsigned pid;
	json_t *config; /* ProcessConfig, for List */
	char *tag;
	struct run run;
	int in_w;  /* the command's stdin, or -1 */
	int pty_m; /* holds the window size, or -1 */
	int sock;
	bool sent_start, ended, done, gone;
	char frame[FRAME_MAX];
	size_t len, off;
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct proc *table;
static unsigned next_pid = 1000, nprocs;

static void proc_free(struct proc *p)
{
	if (p->in_w >= 0)
		close(p->in_w);
	if (p->pty_m >= 0)
		close(p->pty_m);
	run_free(&p->run);
	json_decref(p->config);
	free(p->tag);
	free(p);
}

static void unlink_proc(struct proc *p)
{
	pthread_mutex_lock(&table_mu);
	for (struct proc **q = &table; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			nprocs--;
			break;
		}
	pthread_mutex_unlock(&table_mu);
}

/* A client that left: the command runs on, its output dropped. */
static void *drain(void *arg)
{
	struct proc *p = arg;
	run_drain(&p->run);
	unlink_proc(p);
	proc_free(p);
	return NULL;
}

static void on_free(void *cls)
{
	struct proc *p = cls;
	pthread_t t;
	if (!p->ended && p->run.started && pthread_create(&t, NULL, drain, p) == 0) {
		pthread_detach(t);
		return;
	}
	unlink_proc(p);
	proc_free(p);
}

static void put(struct proc *p, json_t *event)
{
	p->off = 0;
	p->len = connect_frame(p->frame, sizeof(p->frame), json_pack("{s:o}", "event", event));
}

/* envd's end event: Go's ProcessState as text (docs/api-e2b.md 4.4). */
static json_t *end_event(const struct run *r)
{
	char status[64];
	if (r->rc < 0)
		return NULL;
	if (r->x.flags & EXIT_F_SIGNALED) {
		snprintf(status, sizeof(status), "signal: %s",
			 r->x.code == SIGKILL ? "killed" : strsignal(r->x.code));
		return json_pack("{s:i,s:b,s:s,s:s}", "exitCode", -1, "exited", 0, "status", status,
				 "error", status);
	}
	snprintf(status, sizeof(status), "exit status %d", r->x.code);
	json_t *e =
		json_pack("{s:i,s:b,s:s}", "exitCode", r->x.code, "exited", 1, "status", status);
	if (e && r->x.code)
		json_object_set_new(e, "error", json_string(status));
	return e;
}

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct proc *p = cls;
	unsigned char raw[CHUNK];
	char b64[SERVE_B64_LEN(CHUNK)];
	size_t len;
	int which;
	(void)pos;

	while (p->off == p->len) {
		if (p->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (p->ended) {
			p->done = true;
			p->off = 0;
			p->len = p->run.rc < 0
					 ? connect_end_frame(p->frame, sizeof(p->frame),
							     CONNECT_INVALID_ARGUMENT, p->run.e.msg)
					 : connect_end_frame(p->frame, sizeof(p->frame), 0, NULL);
			continue;
		}
		if (!p->sent_start) {
			p->sent_start = true;
			put(p, json_pack("{s:{s:i}}", "start", "pid", (int)p->pid));
			continue;
		}
		switch (run_next(&p->run, p->sock, KEEPALIVE, raw, sizeof(raw), &len, &which)) {
		case RUN_DATA:
			serve_b64(b64, raw, len);
			put(p, json_pack("{s:{s:s}}", "data",
					 p->pty_m >= 0 ? "pty"
					 : which == 1  ? "stdout"
						       : "stderr",
					 b64));
			break;
		case RUN_IDLE:
			put(p, json_pack("{s:{}}", "keepalive"));
			break;
		case RUN_ENDED: {
			p->ended = true;
			json_t *e = end_event(&p->run);
			if (e)
				put(p, json_pack("{s:o}", "end", e));
			break;
		}
		case RUN_GONE:
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	return serve_pending(buf, max, p->frame, p->len, &p->off);
}

/* Start's request into p->run: 0, or -1 with the reason. */
static int start_config(struct proc *p, const struct sandbox *sb, json_t *msg,
			struct MHD_Connection *c)
{
	json_t *proc = json_object_get(msg, "process"), *v;
	const char *cmd = json_string_value(json_object_get(proc, "cmd"));
	json_t *args = json_object_get(proc, "args"), *envs = json_object_get(proc, "envs");
	struct run *r = &p->run;
	char user[64], cwd[PROTO_PATH_MAX];
	size_t i;

	if (!cmd || !cmd[0] || (args && !json_is_array(args)) || (envs && !json_is_object(envs)))
		return sb_fail("invalid process: cmd, args and envs");
	if (!(r->argv = calloc(json_array_size(args) + 2, sizeof(char *))) ||
	    !(r->argv[0] = strdup(cmd)))
		return sb_fail("out of memory");
	json_array_foreach(args, i, v)
	{
		if (!json_is_string(v) || !(r->argv[i + 1] = strdup(json_string_value(v))))
			return sb_fail("invalid args: use strings");
	}
	/* the sandbox's envVars (create), then the call's */
	if (run_env(r, sb, envs) < 0)
		return -1;
	e2b_user(c, user, sizeof(user));
	const char *dir = json_string_value(json_object_get(proc, "cwd"));
	if (e2b_path(user, dir, cwd, sizeof(cwd)) < 0 || !(r->cwd = strdup(cwd)) ||
	    !(r->user = strdup(user)))
		return -1;
	const char *tmo = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connect-Timeout-Ms");
	if (tmo)
		r->timeout_ms = (uint32_t)strtoul(tmo, NULL, 10);
	json_t *size = json_object_get(json_object_get(msg, "pty"), "size");
	if (size) {
		struct winsize ws = {
			.ws_row = (unsigned short)json_integer_value(json_object_get(size, "rows")),
			.ws_col = (unsigned short)json_integer_value(json_object_get(size, "cols"))
		};
		if (openpty(&p->pty_m, &r->tty_fd, NULL, NULL, &ws) < 0)
			return sb_fail("pty: %s", strerror(errno));
		fcntl(p->pty_m, F_SETFD, FD_CLOEXEC);
		fcntl(r->tty_fd, F_SETFD, FD_CLOEXEC);
		r->tty = true;
		r->rows = ws.ws_row;
		r->cols = ws.ws_col;
	}
	/* input: a pipe SendInput writes to, else nothing (/dev/null) */
	if (r->tty || json_is_true(json_object_get(msg, "stdin"))) {
		int in[2];
		if (pipe2(in, O_CLOEXEC) < 0)
			return sb_fail("pipe: %s", strerror(errno));
		r->in_fd = in[0];
		p->in_w = in[1];
	}
	const char *tag = json_string_value(json_object_get(msg, "tag"));
	p->tag = tag ? strdup(tag) : NULL;
	p->config = json_pack("{s:s,s:O,s:O,s:s}", "cmd", cmd, "args", args ? args : json_array(),
			      "envs", envs ? envs : json_object(), "cwd", cwd);
	return 0;
}

static enum MHD_Result start(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			     json_t *msg)
{
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		return MHD_NO;
	run_init(&p->run);
	p->in_w = p->pty_m = -1;
	snprintf(p->sandbox, sizeof(p->sandbox), "%s", sb->name);
	snprintf(p->run.addr, sizeof(p->run.addr), "%s", sb->addr);
	if (start_config(p, sb, msg, c) < 0) {
		proc_free(p);
		return connect_stream_error(c, CONNECT_INVALID_ARGUMENT, "%s", sb_errmsg());
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	p->sock = ci ? ci->connect_fd : -1;
	pthread_mutex_lock(&table_mu);
	bool full = nprocs >= MAX_PROCS || atomic_load(&r->srv->stopping);
	if (!full) {
		p->pid = next_pid++;
		p->next = table;
		table = p;
		nprocs++;
	}
	pthread_mutex_unlock(&table_mu);
	if (full) {
		proc_free(p);
		return connect_stream_error(c, 8, "too many processes: retry later");
	}
	if (run_start(&p->run) < 0) {
		unlink_proc(p);
		proc_free(p);
		return connect_stream_error(c, CONNECT_INTERNAL, "%s", sb_errmsg());
	}
	return serve_stream(c, MHD_SIZE_UNKNOWN, "application/connect+json", on_read, p, on_free);
}

/* What a unary call does to one command, under the table's lock (it only
 * writes to pipes, which the command's worker keeps reading). */
enum op { OP_INPUT, OP_SIGNAL, OP_CLOSE_STDIN, OP_UPDATE };

/* 0 done, or (OP_INPUT) a descriptor to write to; -1 with the reason. */
static int act(struct proc *p, enum op op, json_t *msg)
{
	if (op == OP_CLOSE_STDIN) {
		if (p->in_w >= 0)
			close(p->in_w);
		p->in_w = -1;
		return 0;
	}
	if (op == OP_SIGNAL) {
		json_t *s = json_object_get(msg, "signal");
		const char *name = json_string_value(s);
		int sig = name ? (!strcmp(name, "SIGNAL_SIGTERM")   ? SIGTERM
				  : !strcmp(name, "SIGNAL_SIGKILL") ? SIGKILL
								    : 0)
			       : (int)json_integer_value(s);
		if (sig != SIGTERM && sig != SIGKILL)
			return sb_fail("invalid signal: SIGNAL_SIGTERM or SIGNAL_SIGKILL");
		return run_signal(&p->run, sig) < 0 ? sb_fail("the process has ended") : 0;
	}
	if (op == OP_UPDATE) {
		json_t *size = json_object_get(json_object_get(msg, "pty"), "size");
		struct winsize ws = {
			.ws_row = (unsigned short)json_integer_value(json_object_get(size, "rows")),
			.ws_col = (unsigned short)json_integer_value(json_object_get(size, "cols"))
		};
		if (p->pty_m < 0)
			return sb_fail("the process has no pty");
		if (ioctl(p->pty_m, TIOCSWINSZ, &ws) < 0)
			return sb_fail("resize: %s", strerror(errno));
		return run_signal(&p->run, SIGWINCH);
	}
	/* OP_INPUT: the write happens outside the lock (input_write) */
	return p->in_w < 0 ? sb_fail("the process's stdin is closed") : dup(p->in_w);
}

/* SendInput's bytes into the command's stdin (fd, a dup of it: a command
 * that does not read blocks this call only, not the table). */
static int input_write(int fd, json_t *msg)
{
	json_t *in = json_object_get(msg, "input");
	const char *b64 = json_string_value(json_object_get(in, "stdin"));
	if (!b64)
		b64 = json_string_value(json_object_get(in, "pty"));
	if (!b64)
		return sb_fail("invalid input: stdin or pty");
	size_t cap = strlen(b64), len;
	unsigned char *raw = malloc(cap + 1);
	int rc = 0;
	if (!raw || sodium_base642bin(raw, cap + 1, b64, cap, NULL, &len, NULL,
				      sodium_base64_VARIANT_ORIGINAL) < 0)
		rc = sb_fail("invalid input: use base64");
	for (size_t off = 0; rc == 0 && off < len;) {
		ssize_t w = write(fd, raw + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = sb_fail("the process's stdin is closed");
		else
			off += (size_t)w;
	}
	free(raw);
	return rc;
}

static enum MHD_Result unary(struct MHD_Connection *c, const char *sandbox, enum op op, json_t *msg)
{
	json_t *pid = json_object_get(json_object_get(msg, "process"), "pid");
	const char *tag =
		json_string_value(json_object_get(json_object_get(msg, "process"), "tag"));
	int rc = 1;
	bool found = false;

	pthread_mutex_lock(&table_mu);
	for (struct proc *p = table; p && !found; p = p->next) {
		if (strcmp(p->sandbox, sandbox) || p->ended)
			continue;
		if ((pid && p->pid == (unsigned)json_integer_value(pid)) ||
		    (tag && p->tag && !strcmp(tag, p->tag))) {
			rc = act(p, op, msg);
			found = true;
		}
	}
	pthread_mutex_unlock(&table_mu);
	if (!found)
		return connect_error(c, CONNECT_NOT_FOUND, "process with pid %lld not found",
				     (long long)json_integer_value(pid));
	if (op == OP_INPUT && rc >= 0) {
		int fd = rc;
		rc = input_write(fd, msg);
		close(fd);
	}
	return rc < 0 ? connect_error(c, CONNECT_INVALID_ARGUMENT, "%s", sb_errmsg())
		      : connect_reply(c, json_object());
}

static enum MHD_Result list(struct MHD_Connection *c, const char *sandbox)
{
	json_t *a = json_array();
	pthread_mutex_lock(&table_mu);
	for (struct proc *p = table; a && p; p = p->next) {
		if (strcmp(p->sandbox, sandbox) || p->ended)
			continue;
		json_t *o = json_pack("{s:O,s:i}", "config", p->config, "pid", (int)p->pid);
		if (o && p->tag)
			json_object_set_new(o, "tag", json_string(p->tag));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&table_mu);
	return connect_reply(c, json_pack("{s:o}", "processes", a));
}

enum MHD_Result e2b_process(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			    const char *method, json_t *msg, bool stream)
{
	if (!strcmp(method, "Start") && stream)
		return start(r, c, sb, msg);
	if (stream)
		return connect_stream_error(c, CONNECT_UNIMPLEMENTED,
					    "process %s is not implemented by silo", method);
	if (!strcmp(method, "List"))
		return list(c, sb->name);
	static const struct {
		const char *name;
		enum op op;
	} ops[] = { { "SendInput", OP_INPUT },
		    { "SendSignal", OP_SIGNAL },
		    { "CloseStdin", OP_CLOSE_STDIN },
		    { "Update", OP_UPDATE } };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(method, ops[i].name))
			return unary(c, sb->name, ops[i].op, msg);
	return connect_error(c, CONNECT_UNIMPLEMENTED, "process %s is not implemented by silo",
			     method);
}
