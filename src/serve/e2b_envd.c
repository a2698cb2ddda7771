/* e2b_envd.c: which sandbox, user and path an envd request means, and
 * where it goes (docs/api-e2b.md 1, 2 and 4.7).
 *
 * E2B_SANDBOX_URL is one address for every sandbox: the SDK names the
 * sandbox with E2b-Sandbox-Id (older SDKs send it only on RPCs; then the
 * access token, unique per sandbox, says which). Every envd call carries
 * that sandbox's token (X-Access-Token), issued at create and compared
 * here in constant time; /health needs none. The user is E2B's `user`
 * unless the call names another (Basic auth on RPCs, ?username= on /files),
 * and a relative path is relative to that user's home.
 */
#include "serve/e2b.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int e2b_kind(struct MHD_Connection *c, const char *url)
{
	static const char *const api[] = { "/sandboxes",    "/v2/sandboxes", "/templates",
					   "/v2/templates", "/v3/templates", "/snapshots",
					   "/volumes",	    "/secrets",	     "/teams" };
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "E2b-Sandbox-Id"))
		return 2;
	if (!strcmp(url, "/files") || !strncmp(url, "/process.Process/", 17) ||
	    !strncmp(url, "/filesystem.Filesystem/", 23))
		return 2;
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		size_t n = strlen(api[i]);
		if (!strncmp(url, api[i], n) && (url[n] == 0 || url[n] == '/'))
			return 1;
	}
	return 0;
}

static bool token_ok(const char *given, const char *want)
{
	unsigned char a[32], b[32];
	if (!given || !want[0])
		return false;
	crypto_generichash(a, sizeof(a), (const unsigned char *)given, strlen(given), NULL, 0);
	crypto_generichash(b, sizeof(b), (const unsigned char *)want, strlen(want), NULL, 0);
	return sodium_memcmp(a, b, sizeof(a)) == 0;
}

/* The sandbox whose token this is (SDKs before 2.14.1 name none on /files). */
static int find_by_token(const struct serve *srv, const char *token, char *id)
{
	char dir[SB_PATH_MAX];
	struct dirent *e;
	int found = -1;
	if (!token || sb_path(dir, "%s/e2b", srv->paths->data) < 0)
		return -1;
	DIR *d = opendir(dir);
	while (d && found < 0 && (e = readdir(d))) {
		char name[SB_NAME_MAX + 1];
		size_t n = strlen(e->d_name);
		struct e2b_state s;
		if (n < 6 || n - 5 > SB_NAME_MAX || strcmp(e->d_name + n - 5, ".json"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
		if (e2b_state_load(srv, name, &s) != 0)
			continue;
		if (token_ok(token, s.token)) {
			snprintf(id, SB_NAME_MAX + 1, "%s", s.id);
			found = 0;
		}
		e2b_state_free(&s);
	}
	if (d)
		closedir(d);
	return found;
}

int e2b_envd_sandbox(struct serve_req *r, struct MHD_Connection *c, struct sandbox *sb,
		     bool need_token, enum MHD_Result *ret)
{
	const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Access-Token");
	const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "E2b-Sandbox-Id");
	char found[SB_NAME_MAX + 1];
	struct e2b_state s;
	struct sb_status st;

	if (!id && find_by_token(r->srv, token, found) == 0)
		id = found;
	/* 502: what the SDK reads as "sandbox not running" (docs/api-e2b.md 5) */
	if (!id || e2b_state_load(r->srv, id, &s) != 0) {
		*ret = serve_error(c, MHD_HTTP_BAD_GATEWAY, "sandbox %s not found", id ? id : "?");
		return -1;
	}
	bool ok = !need_token || token_ok(token, s.token);
	e2b_state_free(&s);
	if (!ok) {
		*ret = serve_error(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong X-Access-Token");
		return -1;
	}
	if (sb_open(sb, r->srv->paths, id, false) < 0) {
		*ret = serve_error(c, MHD_HTTP_BAD_GATEWAY, "sandbox %s not found", id);
		return -1;
	}
	if (sb_status(sb, &st) < 0 || st.state != SB_RUNNING || st.paused) {
		sb_close(sb);
		*ret = serve_error(c, MHD_HTTP_BAD_GATEWAY, "sandbox %s is not running", id);
		return -1;
	}
	return 0;
}

static bool user_ok(const char *u)
{
	if (!u[0] || strlen(u) > 32 || !(u[0] == '_' || (u[0] >= 'a' && u[0] <= 'z')))
		return false;
	return strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(u);
}

void e2b_user(struct MHD_Connection *c, char *user, size_t n)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "username");
	char dec[96];
	size_t len = 0;

	snprintf(user, n, "%s", E2B_USER);
	if (auth && !strncasecmp(auth, "Basic ", 6) &&
	    sodium_base642bin((unsigned char *)dec, sizeof(dec) - 1, auth + 6, strlen(auth + 6),
			      NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0) {
		dec[len] = 0;
		dec[strcspn(dec, ":")] = 0;
		if (user_ok(dec))
			snprintf(user, n, "%s", dec);
	} else if (q && user_ok(q)) {
		snprintf(user, n, "%s", q);
	}
}

int e2b_path(const char *user, const char *path, char *out, size_t n)
{
	char home[64];
	if (!strcmp(user, "root"))
		snprintf(home, sizeof(home), "/root");
	else
		snprintf(home, sizeof(home), "/home/%s", user);
	if (!path || !path[0] || !strcmp(path, "~"))
		path = "";
	else if (!strncmp(path, "~/", 2))
		path += 2;
	int len = path[0] == '/' ? snprintf(out, n, "%s", path)
		  : path[0]	 ? snprintf(out, n, "%s/%s", home, path)
				 : snprintf(out, n, "%s", home);
	return len < 0 || (size_t)len >= n ? sb_fail("path too long") : 0;
}

enum MHD_Result e2b_envd_route(struct serve_req *r, struct MHD_Connection *c, const char *method,
			       const char *url)
{
	struct sandbox sb;
	enum MHD_Result ret;

	if (!strcmp(url, "/files") && !strcmp(method, "POST"))
		return e2b_upload_end(r, c);
	if (e2b_envd_sandbox(r, c, &sb, strcmp(url, "/health") != 0, &ret) < 0)
		return ret;
	if (!strcmp(url, "/health")) {
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		ret = resp ? MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp) : MHD_NO;
		if (resp)
			MHD_destroy_response(resp);
	} else if (!strcmp(url, "/files") && !strcmp(method, "GET")) {
		ret = e2b_files_get(r, c, &sb);
	} else if (strcmp(method, "POST")) {
		ret = serve_error(c, MHD_HTTP_NOT_IMPLEMENTED, "%s %s is not implemented by silo",
				  method, url);
	} else {
		const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_CONTENT_TYPE);
		bool stream = type && !strncmp(type, "application/connect+json", 24);
		json_t *msg = stream ? connect_unwrap(r->body, r->len)
				     : json_loadb(r->body ? r->body : "{}", r->body ? r->len : 2, 0,
						  NULL);
		if (!json_is_object(msg))
			ret = stream ? connect_stream_error(c, CONNECT_INVALID_ARGUMENT,
							    "malformed request message")
				     : connect_error(c, CONNECT_INVALID_ARGUMENT,
						     "malformed request message");
		else if (!strncmp(url, "/process.Process/", 17))
			ret = e2b_process(r, c, &sb, url + 17, msg, stream);
		else if (!strncmp(url, "/filesystem.Filesystem/", 23))
			ret = e2b_filesystem(r, c, &sb, url + 23, msg, stream);
		else
			ret = stream ? connect_stream_error(c, CONNECT_UNIMPLEMENTED,
							    "%s is not implemented by silo", url)
				     : connect_error(c, CONNECT_UNIMPLEMENTED,
						     "%s is not implemented by silo", url);
		json_decref(msg);
	}
	sb_close(&sb);
	return ret;
}
