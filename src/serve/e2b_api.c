/* e2b_api.c: E2B's control plane over silo sandboxes (docs/api-e2b.md 3).
 *
 *   POST   /v2/sandboxes, /sandboxes            create and start (201)
 *   GET    /v2/sandboxes, /sandboxes            list
 *   GET    /sandboxes/ID                        info
 *   DELETE /sandboxes/ID                        kill (204; 404 if unknown)
 *   POST   /sandboxes/ID/timeout                its end, from now
 *   POST   /sandboxes/ID/pause                  silo pause (409: paused already)
 *   POST   /[v2/]sandboxes/ID/connect           resume or start it again
 *   anything else E2B has (metrics, templates, snapshots...): 501
 *
 * A template is a silo template (silo template build), or "base" for the
 * default image. Errors are {"code": STATUS, "message"}: the SDK reads the
 * number (404 makes kill() false). The reaper thread removes a sandbox
 * when its timeout passes, as E2B does; a paused one waits.
 */
#include "serve/e2b.h"
#include "net/policy.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the state E2B adds to a sandbox ---------------------------------------- */

static int state_path(const struct serve *srv, const char *id, char *buf)
{
	return sb_path(buf, "%s/e2b/%s.json", srv->paths->data, id);
}

void e2b_state_free(struct e2b_state *s)
{
	json_decref(s->metadata);
	s->metadata = NULL;
}

int e2b_state_load(const struct serve *srv, const char *id, struct e2b_state *s)
{
	char f[SB_PATH_MAX];
	json_error_t e;

	memset(s, 0, sizeof(*s));
	if (!sb_name_valid(id) || state_path(srv, id, f) < 0)
		return 1;
	json_t *j = json_load_file(f, 0, &e);
	if (!j)
		return access(f, F_OK) == 0 ? sb_fail("%s: %s", f, e.text) : 1;
	const char *tok = json_string_value(json_object_get(j, "token"));
	const char *tmpl = json_string_value(json_object_get(j, "template"));
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->token, sizeof(s->token), "%s", tok ? tok : "");
	snprintf(s->template, sizeof(s->template), "%s", tmpl ? tmpl : "base");
	s->started_ms = json_integer_value(json_object_get(j, "started_ms"));
	s->end_ms = json_integer_value(json_object_get(j, "end_ms"));
	s->metadata = json_incref(json_object_get(j, "metadata"));
	if (!json_is_object(s->metadata)) {
		json_decref(s->metadata);
		s->metadata = json_object();
	}
	json_decref(j);
	return 0;
}

int e2b_state_save(const struct serve *srv, const struct e2b_state *s)
{
	char dir[SB_PATH_MAX], f[SB_PATH_MAX];
	if (sb_path(dir, "%s/e2b", srv->paths->data) < 0 || state_path(srv, s->id, f) < 0)
		return -1;
	if (sb_mkdir_p(dir, 0700) < 0)
		return sb_fail("cannot create %s: %s", dir, strerror(errno));
	json_t *j =
		json_pack("{s:s,s:s,s:I,s:I,s:O}", "token", s->token, "template", s->template,
			  "started_ms", (json_int_t)s->started_ms, "end_ms", (json_int_t)s->end_ms,
			  "metadata", s->metadata ? s->metadata : json_object());
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int r = text ? sb_write_file_atomic(f, text, strlen(text)) : sb_fail("out of memory");
	free(text);
	return r;
}

void e2b_state_remove(const struct serve *srv, const char *id)
{
	char f[SB_PATH_MAX];
	if (state_path(srv, id, f) == 0)
		unlink(f);
}

/* --- replies ---------------------------------------------------------------- */

static enum MHD_Result no_content(struct MHD_Connection *c)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	return r;
}

static json_t *rfc3339(int64_t ms)
{
	char buf[40];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
	return json_string(buf);
}

/* The Sandbox of a create or connect reply. */
static json_t *sandbox_reply(const struct e2b_state *s)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:n}", "sandboxID", s->id, "clientID", "silo",
			 "templateID", s->template, "alias", s->template, "envdVersion",
			 E2B_ENVD_VERSION, "envdAccessToken", s->token, "domain");
}

/* SandboxDetail (info) and ListedSandbox (list): null when sb is gone. */
static json_t *sandbox_detail(const struct serve *srv, const struct e2b_state *s)
{
	struct sandbox sb;
	struct sb_status st;
	if (sb_open(&sb, srv->paths, s->id, false) < 0)
		return NULL;
	if (sb_status(&sb, &st) < 0 || st.state != SB_RUNNING) {
		sb_close(&sb);
		return NULL;
	}
	json_t *o = json_pack(
		"{s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:i,s:I,s:I,s:s,s:O}", "sandboxID", s->id, "clientID",
		"silo", "templateID", s->template, "alias", s->template, "startedAt",
		rfc3339(s->started_ms), "endAt", rfc3339(s->end_ms), "state",
		st.paused ? "paused" : "running", "cpuCount", (int)sb.cfg.cpus, "memoryMB",
		(json_int_t)(sb.cfg.memory >> 20), "diskSizeMB", (json_int_t)(sb.cfg.disk >> 20),
		"envdVersion", E2B_ENVD_VERSION, "metadata", s->metadata);
	sb_close(&sb);
	return o;
}

static enum MHD_Result not_found(struct MHD_Connection *c, const char *id)
{
	return serve_error(c, MHD_HTTP_NOT_FOUND, "sandbox %s not found", id);
}

/* --- calls ------------------------------------------------------------------ */

static enum MHD_Result create(struct serve_req *r, struct MHD_Connection *c, json_t *b)
{
	struct e2b_state s = { 0 };
	struct sb_config cfg;
	unsigned char raw[E2B_TOKEN_HEX / 2], rnd[4];
	char name[SB_NAME_MAX + 1], made[SB_NAME_MAX + 1];
	unsigned status;
	enum MHD_Result ret;
	json_t *v;
	const char *k;

	sb_config_init(&cfg);
	const char *tmpl = json_string_value(json_object_get(b, "templateID"));
	json_t *timeout = json_object_get(b, "timeout");
	json_t *envs = json_object_get(b, "envVars");
	json_t *meta = json_object_get(b, "metadata");
	if ((timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1)) ||
	    (envs && !json_is_object(envs)) || (meta && !json_is_object(meta))) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST,
				  "invalid request: timeout is seconds, envVars and metadata "
				  "objects of strings");
		goto out;
	}
	json_object_foreach(envs, k, v)
	{
		char kv[8192];
		if (!json_is_string(v) ||
		    snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(v)) >= (int)sizeof(kv) ||
		    sb_config_add_env(&cfg, kv) < 0) {
			ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "invalid envVars %s", k);
			goto out;
		}
	}
	/* no internet asked: no network at all; else silo's default policy */
	if (!json_is_false(json_object_get(b, "allow_internet_access"))) {
		struct net_policy *p = malloc(sizeof(*p));
		if (!p || (net_policy_init(p, NET_MODE_ALLOWLIST), sb_net_preset_add(p),
			   sb_net_policy_text(p, &cfg.policy) < 0)) {
			free(p);
			ret = serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
			goto out;
		}
		free(p);
	}
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(name, sizeof(name), "e2b-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	if (!tmpl || !strcmp(tmpl, "base"))
		tmpl = NULL;
	else if (!sb_name_valid(tmpl)) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "invalid templateID '%s'", tmpl);
		goto out;
	}
	if (serve_start_new(r, name, &cfg, tmpl, 0, made, &status) < 0) {
		ret = serve_error(c, status, "%s", sb_errmsg());
		goto out;
	}
	snprintf(s.id, sizeof(s.id), "%s", made);
	snprintf(s.template, sizeof(s.template), "%s", tmpl ? tmpl : "base");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(s.token, sizeof(s.token), raw, sizeof(raw));
	s.started_ms = now_ms();
	s.end_ms = s.started_ms +
		   (timeout ? json_integer_value(timeout) : E2B_TIMEOUT_S) * (int64_t)1000;
	s.metadata = meta ? json_incref(meta) : json_object();
	if (e2b_state_save(r->srv, &s) < 0)
		ret = serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg());
	else
		ret = serve_json(c, MHD_HTTP_CREATED, sandbox_reply(&s));
out:
	e2b_state_free(&s);
	sb_config_free(&cfg);
	return ret;
}

/* ?state=running,paused */
static bool state_wanted(struct MHD_Connection *c, const char *state)
{
	const char *want = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
	return !want || !want[0] || strstr(want, state);
}

static enum MHD_Result list(struct serve_req *r, struct MHD_Connection *c)
{
	char **names;
	size_t n;
	if (sb_list(r->srv->paths, &names, &n) < 0)
		return serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg());
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		struct e2b_state s;
		if (e2b_state_load(r->srv, names[i], &s) != 0)
			continue;
		json_t *o = sandbox_detail(r->srv, &s);
		if (o && state_wanted(c, json_string_value(json_object_get(o, "state"))))
			json_array_append_new(a, o);
		else
			json_decref(o);
		e2b_state_free(&s);
	}
	sb_names_free(names, n);
	return serve_json(c, MHD_HTTP_OK, a);
}

/* Remove sandbox id and its state, as silo rm -f. */
static int kill_one(const struct serve *srv, const char *id)
{
	struct sandbox sb;
	if (sb_open(&sb, srv->paths, id, false) < 0) {
		e2b_state_remove(srv, id);
		return -1;
	}
	if (sb_lock(&sb, 3000) < 0) {
		sb_kill(&sb);
		sb_lock(&sb, 3000);
	}
	int rc = sb_stop(&sb, 0) < 0 || sb_remove(&sb) < 0 ? -1 : 0;
	sb_close(&sb);
	if (rc == 0)
		e2b_state_remove(srv, id);
	return rc;
}

/* POST /sandboxes/ID/connect: paused, resumed (201); stopped, started
 * again (201); running (200). Its timeout is renewed when one is given. */
static enum MHD_Result reconnect(struct serve_req *r, struct MHD_Connection *c, struct e2b_state *s,
				 json_t *b)
{
	struct sandbox sb;
	struct sb_status st;
	struct sb_opts opts = { .cancel = &r->srv->cancel };
	unsigned status = MHD_HTTP_OK;

	if (sb_open(&sb, r->srv->paths, s->id, true) < 0)
		return not_found(c, s->id);
	sb.opts = &opts;
	int rc = sb_status(&sb, &st);
	if (rc == 0 && st.state == SB_RUNNING && st.paused) {
		rc = sb_resume(&sb);
		status = MHD_HTTP_CREATED;
	} else if (rc == 0 && st.state != SB_RUNNING) {
		rc = sb_start(&sb);
		status = MHD_HTTP_CREATED;
	}
	sb_close(&sb);
	if (rc < 0)
		return serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg());
	json_t *t = json_object_get(b, "timeout");
	if (json_is_integer(t) && json_integer_value(t) > 0) {
		s->end_ms = now_ms() + json_integer_value(t) * 1000;
		if (e2b_state_save(r->srv, s) < 0)
			return serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg());
	}
	return serve_json(c, status, sandbox_reply(s));
}

static enum MHD_Result pause_one(struct serve_req *r, struct MHD_Connection *c,
				 const struct e2b_state *s)
{
	struct sandbox sb;
	struct sb_status st;
	if (sb_open(&sb, r->srv->paths, s->id, true) < 0)
		return not_found(c, s->id);
	if (sb_status(&sb, &st) == 0 && st.paused) {
		sb_close(&sb);
		return serve_error(c, 409, "sandbox %s is paused already", s->id);
	}
	int rc = sb_pause(&sb);
	sb_close(&sb);
	return rc < 0 ? serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", sb_errmsg())
		      : no_content(c);
}

static json_t *body_json(struct serve_req *r)
{
	json_t *b = r->body ? json_loadb(r->body, r->len, 0, NULL) : json_object();
	if (b && !json_is_object(b)) {
		json_decref(b);
		return NULL;
	}
	return b;
}

enum MHD_Result e2b_api_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			      const char *url)
{
	char id[SB_NAME_MAX + 2] = "", verb[32] = "";
	bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
	enum MHD_Result ret;
	struct e2b_state s;

	if (!strncmp(url, "/v2/", 4))
		url += 3;
	if (!strcmp(url, "/sandboxes") && (get || post)) {
		if (get)
			return list(r, c);
		json_t *b = body_json(r);
		if (!b)
			return serve_error(c, MHD_HTTP_BAD_REQUEST,
					   "the body must be a JSON object");
		ret = create(r, c, b);
		json_decref(b);
		return ret;
	}
	if (strncmp(url, "/sandboxes/", 11) || sscanf(url + 11, "%64[^/]/%31s", id, verb) < 1)
		return serve_error(c, MHD_HTTP_NOT_IMPLEMENTED, "%s %s is not implemented by silo",
				   method, url);
	if (!strcmp(verb, "metrics") || !strcmp(verb, "snapshots") || !strcmp(verb, "fork") ||
	    !strcmp(verb, "network") || !strcmp(verb, "logs"))
		return serve_error(c, MHD_HTTP_NOT_IMPLEMENTED,
				   "sandbox %s is not implemented by silo", verb);
	if (e2b_state_load(r->srv, id, &s) != 0)
		return not_found(c, id);
	json_t *b = body_json(r);
	if (!b) {
		ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
	} else if (!verb[0] && get) {
		json_t *o = sandbox_detail(r->srv, &s);
		ret = o ? serve_json(c, MHD_HTTP_OK, o) : not_found(c, id);
	} else if (!verb[0] && !strcmp(method, "DELETE")) {
		ret = !serve_take_slot(r)
			      ? serve_error(c, MHD_HTTP_TOO_MANY_REQUESTS, "retry later")
		      : kill_one(r->srv, id) < 0 ? not_found(c, id)
						 : no_content(c);
	} else if (!strcmp(verb, "timeout") && post) {
		json_t *t = json_object_get(b, "timeout");
		if (!json_is_integer(t) || json_integer_value(t) < 0) {
			ret = serve_error(c, MHD_HTTP_BAD_REQUEST, "invalid timeout: use seconds");
		} else {
			s.end_ms = now_ms() + json_integer_value(t) * 1000;
			ret = e2b_state_save(r->srv, &s) < 0
				      ? serve_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
						    sb_errmsg())
				      : no_content(c);
		}
	} else if (!strcmp(verb, "pause") && post) {
		ret = pause_one(r, c, &s);
	} else if ((!strcmp(verb, "connect") || !strcmp(verb, "resume")) && post) {
		ret = reconnect(r, c, &s, b);
	} else {
		ret = serve_error(c, MHD_HTTP_NOT_IMPLEMENTED, "%s %s is not implemented by silo",
				  method, url);
	}
	json_decref(b);
	e2b_state_free(&s);
	return ret;
}

/* --- the reaper ------------------------------------------------------------- */

static pthread_t reaper;
static pthread_mutex_t reaper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cv = PTHREAD_COND_INITIALIZER;
static bool reaper_on, reaper_stop;

/* Once a second: sandboxes past their end are removed; paused ones wait
 * (E2B keeps a paused sandbox until it is resumed or killed). */
static void *reap(void *arg)
{
	struct serve *srv = arg;
	char dir[SB_PATH_MAX];
	sb_path(dir, "%s/e2b", srv->paths->data);
	pthread_mutex_lock(&reaper_mu);
	while (!reaper_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&reaper_cv, &reaper_mu, &ts);
		if (reaper_stop)
			break;
		pthread_mutex_unlock(&reaper_mu);
		char **names;
		size_t n;
		if (sb_list(srv->paths, &names, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				struct e2b_state s;
				struct sandbox sb;
				struct sb_status st;
				if (e2b_state_load(srv, names[i], &s) != 0)
					continue;
				bool due = s.end_ms && s.end_ms <= now_ms();
				if (due && sb_open(&sb, srv->paths, s.id, false) == 0) {
					due = sb_status(&sb, &st) == 0 && !st.paused;
					sb_close(&sb);
				}
				if (due) {
					fprintf(stderr,
						"silo: serve: sandbox %s timed out: removing it\n",
						s.id);
					kill_one(srv, s.id);
				}
				e2b_state_free(&s);
			}
			sb_names_free(names, n);
		}
		pthread_mutex_lock(&reaper_mu);
	}
	pthread_mutex_unlock(&reaper_mu);
	return NULL;
}

int e2b_reaper_start(struct serve *srv)
{
	reaper_stop = false;
	if (pthread_create(&reaper, NULL, reap, srv))
		return sb_fail("cannot start the timeout thread");
	reaper_on = true;
	return 0;
}

void e2b_reaper_stop(void)
{
	if (!reaper_on)
		return;
	pthread_mutex_lock(&reaper_mu);
	reaper_stop = true;
	pthread_cond_signal(&reaper_cv);
	pthread_mutex_unlock(&reaper_mu);
	pthread_join(reaper, NULL);
	reaper_on = false;
}
