/* mcp.c: `silo mcp`, a Model Context Protocol server over stdio
 * (modelcontextprotocol.io/specification, "Transports: stdio" and "Tools").
 *
 * JSON-RPC 2.0, one message per line on stdin and stdout; stderr is for
 * logs. It answers initialize, ping, tools/list and tools/call, and takes
 * notifications without answering. The tools make the calls the CLI makes
 * (src/cli/run.c, exec.c, cp.c, rm.c), so an MCP-capable agent can be told
 * to do its work inside silo:
 *
 *   sandbox_create  create and start a sandbox       (silo run without a command)
 *   sandbox_exec    run a shell command in it         (silo exec NAME -- sh -c CMD)
 *   file_read       a text file's contents            (silo cp NAME:PATH -)
 *   file_write      write a text file                 (as the agent user)
 *   sandbox_list    the sandboxes                     (silo ls)
 *   sandbox_remove  stop and remove it                (silo rm -f)
 *
 * A tool that fails says why in its result (isError: true), as MCP asks, so
 * the model reads the reason; protocol errors are JSON-RPC errors. Requests
 * are served one at a time: a client waits for each call anyway.
 */
#include "serve/serve.h"
#include "client/exec_fe.h"
#include "net/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define OUT_CAP	    (256 * 1024) /* of a command's stdout (and stderr) shown */
#define FILE_CAP    (1024 * 1024)
#define LINE_MAX_IN (8 * 1024 * 1024)
#define PROTOCOL    "2025-06-18" /* the newest this server was written to */

static const char *const tools_json =
	"["
	"{\"name\":\"sandbox_create\",\"description\":\"Create and start a silo sandbox: a "
	"microVM of its own with a private Docker daemon. Returns its name.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{"
	"\"name\":{\"type\":\"string\",\"description\":\"optional; letters, digits, _ . -\"},"
	"\"memory\":{\"type\":\"string\",\"description\":\"e.g. 2G (default 1G)\"},"
	"\"cpus\":{\"type\":\"integer\"},"
	"\"docker\":{\"type\":\"boolean\",\"description\":\"run a Docker daemon (default "
	"true)\"}}}},"
	"{\"name\":\"sandbox_exec\",\"description\":\"Run a shell command in a sandbox, as "
	"the user agent in /workspace unless told otherwise. Returns its exit code, stdout "
	"and stderr.\","
	"\"inputSchema\":{\"type\":\"object\",\"required\":[\"sandbox\",\"command\"],"
	"\"properties\":{\"sandbox\":{\"type\":\"string\"},\"command\":{\"type\":\"string\","
	"\"description\":\"run by sh -c\"},\"cwd\":{\"type\":\"string\"},\"user\":{\"type\":"
	"\"string\"},\"timeout\":{\"type\":\"integer\",\"description\":\"seconds (default "
	"300)\"}}}},"
	"{\"name\":\"file_read\",\"description\":\"Read a text file in a sandbox (at most 1 "
	"MiB).\",\"inputSchema\":{\"type\":\"object\",\"required\":[\"sandbox\",\"path\"],"
	"\"properties\":{\"sandbox\":{\"type\":\"string\"},\"path\":{\"type\":\"string\","
	"\"description\":\"absolute, or relative to /workspace\"}}}},"
	"{\"name\":\"file_write\",\"description\":\"Write a text file in a sandbox as the user "
	"agent, making its directories.\",\"inputSchema\":{\"type\":\"object\",\"required\":"
	"[\"sandbox\",\"path\",\"content\"],\"properties\":{\"sandbox\":{\"type\":\"string\"},"
	"\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}}}},"
	"{\"name\":\"sandbox_list\",\"description\":\"The sandboxes and their state.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{}}},"
	"{\"name\":\"sandbox_remove\",\"description\":\"Stop a sandbox and remove it with "
	"everything in it.\",\"inputSchema\":{\"type\":\"object\",\"required\":[\"sandbox\"],"
	"\"properties\":{\"sandbox\":{\"type\":\"string\"}}}}"
	"]";

static void send_msg(json_t *m)
{
	char *text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!text)
		return;
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(text);
}

static void reply(json_t *id, json_t *result)
{
	send_msg(json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void rpc_error(json_t *id, int code, const char *msg)
{
	send_msg(json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
			   "error", "code", code, "message", msg));
}

/* A tool's result: text for the model, isError when it failed. */
static json_t *tool_text(bool error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *tool_text(bool error, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	/* as it is when valid UTF-8 (newlines and all); else escaped */
	json_t *t = text ? json_string(text) : NULL;
	if (!t)
		t = serve_str(text ? text : "out of memory");
	json_t *r = json_pack("{s:[{s:s,s:o}],s:b}", "content", "type", "text", "text", t,
			      "isError", error);
	free(text);
	return r;
}

static const char *arg_str(json_t *args, const char *k)
{
	return json_string_value(json_object_get(args, k));
}

/* The sandbox a tool names, running. */
static int open_running(const struct sb_paths *p, const char *name, struct sandbox *sb)
{
	struct sb_status st;
	if (!name)
		return sb_fail("give the sandbox's name (sandbox)");
	if (sb_open(sb, p, name, false) < 0)
		return -1;
	if (sb_status(sb, &st) < 0 || st.state != SB_RUNNING || st.paused) {
		sb_close(sb);
		return sb_fail("sandbox %s is not running", name);
	}
	return 0;
}

/* sh -c command [arg0] in sb, stdin from in_fd (-1: none): status, and
 * the output read back from two capped memfds. */
static int run_sh(const struct sandbox *sb, const char *command, const char *arg0, const char *cwd,
		  const char *user, uint32_t timeout_ms, int in_fd, char **out, char **err)
{
	const char *argv[] = { "sh", "-c", command, arg0, NULL };
	char **env;
	if (sb_exec_env(sb, NULL, &env) < 0)
		return -1;
	int fds[2] = { memfd_create("silo-out", MFD_CLOEXEC),
		       memfd_create("silo-err", MFD_CLOEXEC) };
	struct aclient_exec_opts o = { .argv = argv,
				       .env = (const char *const *)env,
				       .cwd = cwd,
				       .user = user,
				       .timeout_ms = timeout_ms,
				       .in_fd = in_fd,
				       .out_fd = fds[0],
				       .err_fd = fds[1],
				       .sig_fd = -1,
				       .tty_fd = -1 };
	struct aclient_err e = { 0 };
	struct proto_exit x;
	int rc = fds[0] >= 0 && fds[1] >= 0 ? aclient_exec(sb->addr, &o, &x, &e) : -1;
	sb_env_free(env);
	char **dst[2] = { out, err };
	for (int i = 0; i < 2; i++) {
		off_t len = fds[i] >= 0 ? lseek(fds[i], 0, SEEK_END) : 0;
		size_t n = len > OUT_CAP ? OUT_CAP : (size_t)(len > 0 ? len : 0);
		*dst[i] = calloc(1, n + 64);
		if (*dst[i] && n && pread(fds[i], *dst[i], n, 0) == (ssize_t)n && len > OUT_CAP)
			snprintf(*dst[i] + n, 64, "\n[... %lld bytes more]",
				 (long long)(len - OUT_CAP));
		if (fds[i] >= 0)
			close(fds[i]);
	}
	if (rc < 0) {
		sb_fail("%s", e.msg[0] ? e.msg : "cannot run the command");
		return -1;
	}
	return aclient_exit_status(0, &x, &e);
}

static json_t *t_create(const struct sb_paths *p, json_t *args)
{
	struct serve srv = { .paths = p, .opts = &(struct serve_opts){ .max_busy = 1 } };
	struct serve_req r = { .srv = &srv };
	struct sb_config cfg;
	char made[SB_NAME_MAX + 1], num[32];
	unsigned status;
	json_t *v;

	sb_config_init(&cfg);
	const char *mem = arg_str(args, "memory");
	if ((mem && sb_config_memory(&cfg, mem, "memory") < 0) ||
	    ((v = json_object_get(args, "cpus")) &&
	     (snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)),
	      sb_config_cpus(&cfg, num, "cpus") < 0))) {
		sb_config_free(&cfg);
		return tool_text(true, "%s", sb_errmsg());
	}
	cfg.no_docker = json_is_false(json_object_get(args, "docker"));
	struct net_policy *pol = malloc(sizeof(*pol));
	if (!pol || (net_policy_init(pol, NET_MODE_ALLOWLIST), sb_net_preset_add(pol),
		     sb_net_policy_text(pol, &cfg.policy) < 0)) {
		free(pol);
		sb_config_free(&cfg);
		return tool_text(true, "out of memory");
	}
	free(pol);
	int rc = serve_start_new(&r, arg_str(args, "name"), &cfg, NULL, 0, made, &status);
	sb_config_free(&cfg);
	if (rc < 0)
		return tool_text(true, "%s", sb_errmsg());
	return tool_text(false,
			 "sandbox %s is running (a microVM; Docker %s). Use it as the "
			 "sandbox argument of the other tools.",
			 made, json_is_false(json_object_get(args, "docker")) ? "off" : "starting");
}

static json_t *t_exec(const struct sb_paths *p, json_t *args)
{
	struct sandbox sb;
	char *out = NULL, *err = NULL;
	const char *cmd = arg_str(args, "command");
	json_t *t = json_object_get(args, "timeout");
	if (!cmd)
		return tool_text(true, "give the command to run (command)");
	if (open_running(p, arg_str(args, "sandbox"), &sb) < 0)
		return tool_text(true, "%s", sb_errmsg());
	const char *cwd = arg_str(args, "cwd"), *user = arg_str(args, "user");
	uint32_t ms = json_is_integer(t) && json_integer_value(t) > 0
			      ? (uint32_t)json_integer_value(t) * 1000
			      : 300 * 1000;
	int code = run_sh(&sb, cmd, NULL, cwd ? cwd : "/workspace", user ? user : "agent", ms, -1,
			  &out, &err);
	sb_close(&sb);
	json_t *r = code < 0 ? tool_text(true, "%s", sb_errmsg())
			     : tool_text(code != 0,
					 "exit code %d\n--- stdout ---\n%s--- stderr ---\n%s", code,
					 out ? out : "", err ? err : "");
	free(out);
	free(err);
	return r;
}

static json_t *t_file(const struct sb_paths *p, json_t *args, bool writing)
{
	struct sandbox sb;
	char *out = NULL, *err = NULL;
	const char *path = arg_str(args, "path"), *content = arg_str(args, "content");
	if (!path || (writing && !content))
		return tool_text(true, "give the path%s", writing ? " and the content" : "");
	if (open_running(p, arg_str(args, "sandbox"), &sb) < 0)
		return tool_text(true, "%s", sb_errmsg());
	int in = -1, code;
	if (writing) {
		in = memfd_create("silo-in", MFD_CLOEXEC);
		size_t len = strlen(content);
		if (in < 0 || write(in, content, len) != (ssize_t)len ||
		    lseek(in, 0, SEEK_SET) < 0) {
			sb_close(&sb);
			return tool_text(true, "cannot hold the content: %s", strerror(errno));
		}
		code = run_sh(&sb, "mkdir -p -- \"$(dirname -- \"$0\")\" && cat > \"$0\"", path,
			      "/workspace", "agent", 60000, in, &out, &err);
	} else {
		code = run_sh(&sb, "head -c 1048576 -- \"$0\"", path, "/workspace", "agent", 60000,
			      -1, &out, &err);
	}
	sb_close(&sb);
	if (in >= 0)
		close(in);
	json_t *r;
	if (code < 0)
		r = tool_text(true, "%s", sb_errmsg());
	else if (code)
		r = tool_text(true, "%s", err && err[0] ? err : "failed");
	else if (writing)
		r = tool_text(false, "wrote %zu bytes to %s", strlen(content), path);
	else
		r = tool_text(false, "%s", out ? out : "");
	free(out);
	free(err);
	return r;
}

static json_t *t_list(const struct sb_paths *p)
{
	char **names, *text = NULL;
	size_t n, len = 0;
	if (sb_list(p, &names, &n) < 0)
		return tool_text(true, "%s", sb_errmsg());
	FILE *f = open_memstream(&text, &len);
	for (size_t i = 0; f && i < n; i++) {
		struct sandbox sb;
		struct sb_status st;
		if (sb_open(&sb, p, names[i], false) < 0)
			continue;
		if (sb_status(&sb, &st) == 0)
			fprintf(f, "%s %s\n", sb.name, sb_status_name(&st));
		sb_close(&sb);
	}
	if (f)
		fclose(f);
	sb_names_free(names, n);
	json_t *r = tool_text(false, "%s", text && text[0] ? text : "no sandboxes\n");
	free(text);
	return r;
}

static json_t *t_remove(const struct sb_paths *p, json_t *args)
{
	struct sandbox sb;
	const char *name = arg_str(args, "sandbox");
	if (!name || sb_open(&sb, p, name, false) < 0)
		return tool_text(true, "%s", name ? sb_errmsg() : "give the sandbox's name");
	if (sb_lock(&sb, 3000) < 0) {
		sb_kill(&sb);
		sb_lock(&sb, 3000);
	}
	int rc = sb_stop(&sb, 0) < 0 || sb_remove(&sb) < 0 ? -1 : 0;
	sb_close(&sb);
	return rc < 0 ? tool_text(true, "%s", sb_errmsg()) : tool_text(false, "removed %s", name);
}

static void call(const struct sb_paths *p, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	if (!args)
		args = json_object();
	else
		json_incref(args);
	json_t *r = !name			      ? NULL
		    : !strcmp(name, "sandbox_create") ? t_create(p, args)
		    : !strcmp(name, "sandbox_exec")   ? t_exec(p, args)
		    : !strcmp(name, "file_read")      ? t_file(p, args, false)
		    : !strcmp(name, "file_write")     ? t_file(p, args, true)
		    : !strcmp(name, "sandbox_list")   ? t_list(p)
		    : !strcmp(name, "sandbox_remove") ? t_remove(p, args)
						      : NULL;
	json_decref(args);
	if (!r)
		rpc_error(id, -32602, "unknown tool");
	else
		reply(id, r);
}

static const char *server_version = "";

static void handle(const struct sb_paths *p, json_t *m)
{
	json_t *id = json_object_get(m, "id");
	const char *method = json_string_value(json_object_get(m, "method"));
	json_t *params = json_object_get(m, "params");

	if (!method) {
		/* a response to us (we send no requests) or junk */
		if (!json_object_get(m, "result") && !json_object_get(m, "error"))
			rpc_error(id, -32600, "invalid request");
		return;
	}
	if (!id)
		return; /* a notification: initialized, cancelled... */
	if (!strcmp(method, "initialize")) {
		const char *want = json_string_value(json_object_get(params, "protocolVersion"));
		reply(id,
		      json_pack("{s:s,s:{s:{}},s:{s:s,s:s},s:s}", "protocolVersion",
				want ? want : PROTOCOL, "capabilities", "tools", "serverInfo",
				"name", "silo", "version", server_version, "instructions",
				"Each sandbox is a microVM with its own kernel and Docker daemon; "
				"nothing in it reaches this machine. Create one, run commands "
				"and edit files in it, and remove it when done."));
	} else if (!strcmp(method, "ping")) {
		reply(id, json_object());
	} else if (!strcmp(method, "tools/list")) {
		reply(id, json_pack("{s:o}", "tools", json_loads(tools_json, 0, NULL)));
	} else if (!strcmp(method, "tools/call")) {
		call(p, id, params);
	} else {
		rpc_error(id, -32601, "method not found");
	}
}

int mcp_main(const struct sb_paths *p, const char *version)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	server_version = version;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	fprintf(stderr, "silo: mcp: serving on stdin/stdout (data %s)\n", p->data);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (n > LINE_MAX_IN) {
			rpc_error(NULL, -32600, "message too large");
			continue;
		}
		json_error_t e;
		json_t *m = json_loadb(line, (size_t)n, 0, &e);
		if (!m) {
			if (strspn(line, " \t\r\n") != (size_t)n)
				rpc_error(NULL, -32700, "parse error");
			continue;
		}
		if (json_is_object(m))
			handle(p, m);
		else
			rpc_error(NULL, -32600,
				  "invalid request: one message per line, no batches");
		json_decref(m);
	}
	free(line);
	return 0;
}
