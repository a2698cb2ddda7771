/* v1.c: silo's own API, /v1/... (docs/api.md, docs/openapi.yaml).
 *
 *   GET    /v1/sandboxes              every sandbox (as `silo ls --json`)
 *   POST   /v1/sandboxes              create and start one: 201 once its agent answers
 *   GET    /v1/sandboxes/NAME         one
 *   DELETE /v1/sandboxes/NAME         stop (?force=true: at once) and remove
 *   POST   /v1/sandboxes/NAME/exec    run a command: its output as NDJSON (exec.c)
 *   GET    /v1/sandboxes/NAME/files   ?path=P: a tar of P          (v1_files.c)
 *   PUT    /v1/sandboxes/NAME/files   ?path=DIR: a tar unpacked there
 *   GET    /v1/sandboxes/NAME/logs    the console log
 *   GET    /v1/sandboxes/NAME/policy  its network policy; PUT: a new one, live
 *   GET    /v1/templates              the templates; POST: build one; DELETE /v1/templates/T
 *
 * Each handler makes the same library calls as the CLI command of the same
 * name (src/cli/run.c, rm.c): the server adds no behaviour of its own.
 */
#include "serve/serve.h"
#include "net/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_CONFLICT 409

/* One sandbox as `silo ls --json` shows it. */
static json_t *sandbox_json(struct sandbox *sb)
{
	struct sb_status st;
	char status[300], why[64], detail[256] = "";

	if (sb_status(sb, &st) < 0)
		return NULL;
	sb_status_text(&st, status, sizeof(status));
	if (st.state == SB_RUNNING && sb_degraded(sb, why, sizeof(why), detail, sizeof(detail)) > 0)
		snprintf(status, sizeof(status), "%s (degraded: %s)", sb_status_name(&st), why);
	json_t *o =
		json_pack("{s:o,s:s,s:o,s:i,s:I,s:I,s:I,s:o,s:b}", "name", serve_str(sb->name),
			  "state", sb_status_name(&st), "status", serve_str(status), "cpus",
			  (int)sb->cfg.cpus, "memory", (json_int_t)sb->cfg.memory, "disk",
			  (json_int_t)sb->cfg.disk, "created", (json_int_t)sb->cfg.created,
			  "template", serve_str(sb->cfg.template), "docker", !sb->cfg.no_docker);
	if (o && detail[0])
		json_object_set_new(o, "degraded", serve_str(detail));
	return o;
}

/* Which status a library error gets: what the caller can fix is 4xx. */
static unsigned status_of(const char *msg)
{
	if (strstr(msg, "no such sandbox") || strstr(msg, "no such template"))
		return MHD_HTTP_NOT_FOUND;
	if (strstr(msg, "already in use") || strstr(msg, "in use") || strstr(msg, "is running") ||
	    strstr(msg, "not running"))
		return HTTP_CONFLICT;
	if (strstr(msg, "invalid"))
		return MHD_HTTP_BAD_REQUEST;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static enum MHD_Result lib_error(struct MHD_Connection *c)
{
	const char *msg = sb_errmsg();
	return serve_error(c, status_of(msg), "%s", msg);
}

static enum MHD_Result list(struct serve_req *r, struct MHD_Connection *c)
{
	char **names;
	size_t n;
	if (sb_list(r->srv->paths, &names, &n) < 0)
		return lib_error(c);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		struct sandbox sb;
		/* one removed while we list is simply not shown */
		if (sb_open(&sb, r->srv->paths, names[i], false) < 0)
			continue;
		json_t *o = sandbox_json(&sb);
		if (o)
			json_array_append_new(a, o);
		sb_close(&sb);
	}
	sb_names_free(names, n);
	return serve_json(c, MHD_HTTP_OK, a);
}

/* "network": absent (the default: allowlist with the preset, as the CLI),
 * "none", or {"mode": "allowlist"|"open", "preset": bool, "allow": [RULE],
 * "deny": [RULE]} with rules as docs/network.md writes them. */
static int network_policy(json_t *net, struct sb_config *cfg)
{
	struct net_policy *p;
	enum net_mode mode = NET_MODE_ALLOWLIST;
	bool preset = true;

	cfg->policy = NULL;
	if (json_is_string(net) && !strcmp(json_string_value(net), "none"))
		return 0;
	if (net && !json_is_object(net))
		return sb_fail("invalid network: use \"none\" or an object with mode, allow, deny");
	const char *m = net ? json_string_value(json_object_get(net, "mode")) : NULL;
	if (m && net_mode_parse(m, &mode) < 0)
		return sb_fail("invalid network mode '%s': use allowlist, open or none", m);
	if (mode == NET_MODE_NONE)
		return 0;
	if (net && (m || json_object_get(net, "preset")))
		preset = json_is_true(json_object_get(net, "preset"));
	if (!(p = malloc(sizeof(*p))))
		return sb_fail("out of memory");
	net_policy_init(p, mode);
	if (preset)
		sb_net_preset_add(p);
	static const char *const keys[] = { "allow", "deny" };
	for (int k = 0; k < 2; k++) {
		json_t *rules = net ? json_object_get(net, keys[k]) : NULL, *v;
		size_t i;
		if (rules && !json_is_array(rules)) {
			free(p);
			return sb_fail("invalid network %s: use a list of rules", keys[k]);
		}
		json_array_foreach(rules, i, v)
		{
			struct net_rule rule;
			const char *why = "not a string", *text = json_string_value(v);
			if (!text ||
			    net_rule_parse(text, k ? NET_DENY : NET_ALLOW, &rule, &why) < 0 ||
			    net_policy_add(p, &rule) < 0) {
				free(p);
				return sb_fail("invalid network %s rule '%s': %s", keys[k],
					       text ? text : "?", why);
			}
		}
	}
	int r = sb_net_policy_text(p, &cfg->policy);
	free(p);
	return r;
}

/* A create request's body into cfg: the fields of `silo create`. */
static int create_config(json_t *b, struct sb_config *cfg, const char **name, unsigned *given)
{
	static const char *const res[] = { "cpus", "memory", "disk" };
	json_t *v;
	const char *k;
	char num[32];

	*given = 0;
	json_object_foreach(b, k, v)
	{
		if (strcmp(k, "name") && strcmp(k, "cpus") && strcmp(k, "memory") &&
		    strcmp(k, "disk") && strcmp(k, "docker") && strcmp(k, "template") &&
		    strcmp(k, "env") && strcmp(k, "network") && strcmp(k, "wait_docker"))
			return sb_fail("unknown field '%s'", k);
	}
	v = json_object_get(b, "name");
	*name = json_string_value(v);
	if (v && !*name)
		return sb_fail("invalid name: use a string");
	if (*name && sb_name_check(*name, "sandbox") < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		const char *text = num;
		v = json_object_get(b, res[i]);
		if (!v)
			continue;
		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		else if (!(text = json_string_value(v)))
			return sb_fail("invalid %s: use a number or a size such as \"512M\"",
				       res[i]);
		int r = i == 0	 ? sb_config_cpus(cfg, text, res[i])
			: i == 1 ? sb_config_memory(cfg, text, res[i])
				 : sb_config_disk(cfg, text, res[i]);
		if (r < 0)
			return -1;
		*given |= i == 0 ? SB_GIVEN_CPUS : i == 1 ? SB_GIVEN_MEMORY : SB_GIVEN_DISK;
	}
	v = json_object_get(b, "docker");
	if (v && !json_is_boolean(v))
		return sb_fail("invalid docker: use true or false");
	cfg->no_docker = json_is_false(v);
	v = json_object_get(b, "wait_docker");
	if (v && !json_is_boolean(v))
		return sb_fail("invalid wait_docker: use true or false");
	cfg->wait_docker = json_is_true(v);
	json_t *env = json_object_get(b, "env");
	if (env && !json_is_object(env))
		return sb_fail("invalid env: use an object of strings");
	json_object_foreach(env, k, v)
	{
		char kv[8192];
		if (!json_is_string(v) ||
		    snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(v)) >= (int)sizeof(kv))
			return sb_fail("invalid env %s: use a string (at most 8 KiB)", k);
		if (sb_config_add_env(cfg, kv) < 0)
			return -1;
	}
	if (json_object_get(b, "network"))
		*given |= SB_GIVEN_NET;
	return network_policy(json_object_get(b, "network"), cfg);
}

int serve_start_new(struct serve_req *r, const char *name, struct sb_config *cfg, const char *tmpl,
		    unsigned given, char *made, unsigned *status)
{
	const struct sb_paths *p = r->srv->paths;
	struct sb_opts opts = { .cancel = &r->srv->cancel };
	struct sb_template t;
	struct sandbox sb;

	if (tmpl && (sb_template_load(p, tmpl, &t) < 0 || sb_template_apply(&t, given, cfg) < 0)) {
		*status = status_of(sb_errmsg());
		return -1;
	}
	if (!serve_take_slot(r)) {
		*status = MHD_HTTP_TOO_MANY_REQUESTS;
		return sb_fail("too many requests at work: retry later");
	}
	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (sb_check_host(p) < 0)
		return -1;
	if (sb_create(&sb, p, name, cfg, NULL) < 0) {
		*status = status_of(sb_errmsg());
		return -1;
	}
	snprintf(made, SB_NAME_MAX + 1, "%s", sb.name);
	sb_close(&sb);
	if (sb_open(&sb, p, made, true) < 0)
		return -1;
	sb.opts = &opts;
	int rc = sb_start(&sb);
	if (rc == 0 && cfg->wait_docker)
		rc = sb_wait_docker(&sb, sb_boot_timeout(&sb));
	if (rc < 0) {
		/* as `silo run`: a sandbox that never came up is not kept */
		sb_discard(&sb);
		sb_close(&sb);
		return -1;
	}
	sb_close(&sb);
	return 0;
}

static enum MHD_Result create(struct serve_req *r, struct MHD_Connection *c, json_t *b)
{
	struct sb_config cfg;
	struct sandbox sb;
	const char *name = NULL;
	unsigned given = 0, status;
	char made[SB_NAME_MAX + 1];
	enum MHD_Result ret;

	sb_config_init(&cfg);
	const char *tmpl = json_string_value(json_object_get(b, "template"));
	/* what the request asks for is wrong: 400 */
	if ((json_object_get(b, "template") && !tmpl && sb_fail("invalid template: use a name")) ||
	    create_config(b, &cfg, &name, &given) < 0)
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "%s", sb_errmsg());
	else if (serve_start_new(r, name, &cfg, tmpl, given, made, &status) < 0)
		ret = serve_error(c, status, "%s", sb_errmsg());
	else if (sb_open(&sb, r->srv->paths, made, false) < 0)
		ret = lib_error(c);
	else {
		json_t *o = sandbox_json(&sb);
		sb_close(&sb);
		ret = o ? serve_json(c, MHD_HTTP_CREATED, o) : lib_error(c);
	}
	sb_config_free(&cfg);
	return ret;
}

/* As `silo rm [-f]`. */
static enum MHD_Result remove_one(struct serve_req *r, struct MHD_Connection *c, const char *name)
{
	const char *f = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "force");
	bool force = f && (!strcmp(f, "true") || !strcmp(f, "1"));
	struct sandbox sb;

	if (!serve_take_slot(r))
		return serve_error(c, MHD_HTTP_TOO_MANY_REQUESTS,
				   "too many requests at work: retry later");
	if (sb_open(&sb, r->srv->paths, name, false) < 0)
		return lib_error(c);
	/* a start or stop of it elsewhere holds the lock for a while */
	if (sb_lock(&sb, force ? 3000 : 30000) < 0) {
		if (errno == EWOULDBLOCK && force) {
			sb_kill(&sb);
			if (sb_lock(&sb, 3000) == 0)
				goto locked;
		}
		sb_close(&sb);
		return errno == EWOULDBLOCK ? serve_error(c, HTTP_CONFLICT,
							  "sandbox %s is busy (another request "
							  "holds it): retry, or use ?force=true",
							  name)
					    : lib_error(c);
	}
locked:
	if (sb_stop(&sb, force ? 0 : 10) < 0 || sb_remove(&sb) < 0) {
		enum MHD_Result ret = lib_error(c);
		sb_close(&sb);
		return ret;
	}
	sb_close(&sb);
	return serve_json(c, MHD_HTTP_OK, json_pack("{s:s}", "removed", name));
}

/* The body as a JSON object, or the 400 that says why not. */
static json_t *body_object(struct serve_req *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
	json_error_t e;
	json_t *b = json_loadb(r->body ? r->body : "{}", r->body ? r->len : 2, 0, &e);
	if (!b) {
		*ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "malformed JSON: %s (line %d)", e.text,
				   e.line);
		return NULL;
	}
	if (!json_is_object(b)) {
		json_decref(b);
		*ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
		return NULL;
	}
	return b;
}

/* A policy as the create request's "network" names it. */
static json_t *policy_json(const struct net_policy *p)
{
	json_t *o = json_pack("{s:s,s:[],s:[]}", "mode", net_mode_name(p ? p->mode : NET_MODE_NONE),
			      "allow", "deny");
	for (size_t i = 0; o && p && i < p->nrules; i++) {
		char text[NET_NAME_MAX + 64];
		if (net_rule_format(&p->rules[i], text, sizeof(text)) < 0)
			continue;
		json_array_append_new(
			json_object_get(o, p->rules[i].action == NET_DENY ? "deny" : "allow"),
			json_string(text));
	}
	return o;
}

static enum MHD_Result policy(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
			      bool put)
{
	struct net_policy *p = NULL;
	enum MHD_Result ret;
	if (!put) {
		if (sb_net_load(sb, &p) < 0)
			return lib_error(c);
		ret = serve_json(c, MHD_HTTP_OK, policy_json(p));
		free(p);
		return ret;
	}
	json_t *b = body_object(r, c, &ret);
	if (!b)
		return ret;
	struct sb_config cfg = { 0 };
	unsigned n;
	const char *why;
	/* the same body as create's "network"; none is refused: a running
	 * sandbox keeps the network it was made with or without */
	if (network_policy(b, &cfg) < 0 || !cfg.policy) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "%s",
				  cfg.policy ? sb_errmsg()
					     : "use mode allowlist or open: a "
					       "sandbox's network cannot be removed");
	} else if (!(p = malloc(sizeof(*p))) ||
		   (net_policy_init(p, NET_MODE_ALLOWLIST),
		    net_policy_parse(p, cfg.policy, strlen(cfg.policy), &n, &why) < 0)) {
		ret = serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot use the policy");
	} else {
		struct net_policy *old = NULL;
		if (sb_net_load(sb, &old) < 0 || !old)
			ret = serve_error(c, 409, "sandbox %s has no network (--network none)",
					  sb->name);
		else if (sb_net_save(sb, p) < 0)
			ret = lib_error(c);
		else
			ret = serve_json(c, MHD_HTTP_OK, policy_json(p));
		free(old);
	}
	free(p);
	free(cfg.policy);
	json_decref(b);
	return ret;
}

static json_t *template_json(const struct sb_paths *p, const char *name)
{
	struct sb_template t;
	if (sb_template_load(p, name, &t) < 0)
		return NULL;
	return json_pack("{s:s,s:i,s:I,s:I,s:I,s:b,s:I}", "name", t.name, "cpus", (int)t.cpus,
			 "memory", (json_int_t)t.memory, "disk", (json_int_t)t.disk, "created",
			 (json_int_t)t.created, "docker", !t.no_docker, "size",
			 (json_int_t)sb_template_du(p, name));
}

/* POST /v1/templates, as `silo template build`: the create body's fields
 * but env and template (a template holds no secrets: docs/snapshots.md),
 * and "cmd", run in it before the snapshot. 201 once it is kept. */
static enum MHD_Result template_build(struct serve_req *r, struct MHD_Connection *c)
{
	const struct sb_paths *p = r->srv->paths;
	struct sb_opts opts = { .cancel = &r->srv->cancel };
	struct sb_config cfg;
	const char *name = NULL, **cmd = NULL;
	unsigned given;
	enum MHD_Result ret;
	json_t *b = body_object(r, c, &ret), *v;
	size_t i;

	if (!b)
		return ret;
	sb_config_init(&cfg);
	json_t *argv = json_object_get(b, "cmd");
	if (argv) {
		json_incref(argv);
		json_object_del(b, "cmd");
	}
	if (json_object_get(b, "env") || json_object_get(b, "template")) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST,
				  "a template takes no env or template: give them to the sandboxes "
				  "made from it");
		goto out;
	}
	if (create_config(b, &cfg, &name, &given) < 0 || (argv && !json_is_array(argv))) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "%s",
				  argv && !json_is_array(argv)
					  ? "invalid cmd: use a list of strings"
					  : sb_errmsg());
		goto out;
	}
	if (argv && json_array_size(argv)) {
		cmd = calloc(json_array_size(argv) + 1, sizeof(char *));
		json_array_foreach(argv, i, v)
		{
			if (!cmd || !(cmd[i] = json_string_value(v))) {
				ret = serve_error(c, MHD_HTTP_BAD_REQUEST,
						  "invalid cmd: use a list of strings");
				goto out;
			}
		}
	}
	name = name ? name : SB_TEMPLATE_DEFAULT;
	if (!serve_take_slot(r)) {
		ret = serve_error(c, MHD_HTTP_TOO_MANY_REQUESTS,
				  "too many requests at work: retry later");
		goto out;
	}
	if (sb_check_host(p) < 0 || sb_template_build(p, name, &cfg, cmd, NULL, &opts) < 0) {
		ret = lib_error(c);
		goto out;
	}
	json_t *o = template_json(p, name);
	ret = o ? serve_json(c, MHD_HTTP_CREATED, o) : lib_error(c);
out:
	free(cmd);
	json_decref(argv);
	json_decref(b);
	sb_config_free(&cfg);
	return ret;
}

static enum MHD_Result templates(struct serve_req *r, struct MHD_Connection *c, const char *method,
				 const char *name)
{
	const struct sb_paths *p = r->srv->paths;
	if (name && !strcmp(method, "DELETE"))
		return sb_template_remove(p, name) < 0
			       ? lib_error(c)
			       : serve_json(c, MHD_HTTP_OK, json_pack("{s:s}", "removed", name));
	if (!name && !strcmp(method, "POST"))
		return template_build(r, c);
	if (name || strcmp(method, "GET"))
		return serve_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "use GET or POST /v1/templates, DELETE /v1/templates/NAME");
	char **names;
	size_t n;
	if (sb_template_list(p, &names, &n) < 0)
		return lib_error(c);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = template_json(p, names[i]);
		if (o)
			json_array_append_new(a, o);
	}
	sb_names_free(names, n);
	return serve_json(c, MHD_HTTP_OK, a);
}

enum MHD_Result v1_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			 const char *path)
{
	char name[SB_NAME_MAX + 2], rest[32] = "";
	enum MHD_Result ret;
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	json_t *b;

	if (!strcmp(path, "/sandboxes")) {
		if (get)
			return list(r, c);
		if (!post)
			return serve_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or POST");
		if (!(b = body_object(r, c, &ret)))
			return ret;
		ret = create(r, c, b);
		json_decref(b);
		return ret;
	}
	if (!strcmp(path, "/templates") || !strncmp(path, "/templates/", 11)) {
		const char *t = path[10] ? path + 11 : NULL;
		if (t && !sb_name_valid(t))
			return serve_error(c, MHD_HTTP_NOT_FOUND, "no such template: %s", t);
		return templates(r, c, method, t);
	}
	/* /sandboxes/NAME[/VERB] */
	if (strncmp(path, "/sandboxes/", 11) || sscanf(path + 11, "%64[^/]%31s", name, rest) < 1 ||
	    (rest[0] && rest[0] != '/'))
		return serve_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s /v1%s", method,
				   path);
	if (!sb_name_valid(name))
		return serve_error(c, MHD_HTTP_NOT_FOUND, "no such sandbox: %s", name);
	if (!rest[0] && !strcmp(method, "DELETE"))
		return remove_one(r, c, name);
	struct sandbox sb;
	if (!rest[0] && get) {
		if (sb_open(&sb, r->srv->paths, name, false) < 0)
			return lib_error(c);
		json_t *o = sandbox_json(&sb);
		sb_close(&sb);
		return o ? serve_json(c, MHD_HTTP_OK, o) : lib_error(c);
	}
	if (!strcmp(rest, "/files") && !strcmp(method, "PUT"))
		return v1_files_put_end(r, c);
	if ((!strcmp(rest, "/files") || !strcmp(rest, "/logs") || !strcmp(rest, "/policy")) &&
	    (get || (!strcmp(rest, "/policy") && !strcmp(method, "PUT")))) {
		if (sb_open(&sb, r->srv->paths, name, false) < 0)
			return lib_error(c);
		ret = !strcmp(rest, "/files")  ? v1_files_get(c, &sb)
		      : !strcmp(rest, "/logs") ? v1_logs(c, &sb)
					       : policy(r, c, &sb, !get);
		sb_close(&sb);
		return ret;
	}
	if (!strcmp(rest, "/exec") && post) {
		if (!(b = body_object(r, c, &ret)))
			return ret;
		if (sb_open(&sb, r->srv->paths, name, false) < 0)
			ret = lib_error(c);
		else {
			ret = v1_exec(r, c, &sb, b);
			sb_close(&sb);
		}
		json_decref(b);
		return ret;
	}
	return serve_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s /v1%s", method, path);
}
