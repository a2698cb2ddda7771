/* src/netd/tls.c: secrets at egress, what is set up once (docs/secrets.md).
 *
 * The sandbox's secrets arrive on --secrets-fd as lines
 * "NAME<TAB>HOST<TAB>HEADER<TAB>VALUE" (sandbox/secret.c writes them; the
 * value is the header's whole value, its format applied). For them:
 *
 *   - a certificate authority of this broker's own, made here, in memory:
 *     its key is never written anywhere and dies with the process, so every
 *     start of the sandbox has a new one. Its certificate carries a name
 *     constraint (RFC 5280 §4.2.1.10) that permits the secrets' hosts only:
 *     even in the wrong hands it cannot vouch for another site. The
 *     certificate goes to --ca-out, from where the sandbox installs it in
 *     the guest's trust store;
 *   - for each host, a server certificate signed by it, and a TLS server
 *     context offering HTTP/1.1 only (ALPN), for the guest's side;
 *   - one TLS client context for the API servers, which checks their
 *     certificates against the host's trust store (and --upstream-ca).
 *
 * Everything is loaded before the jail (main.c setup()): OpenSSL reads its
 * configuration, providers and trust store from files the broker's view no
 * longer has. The values live in one mlock'd mapping, wiped at exit; no
 * core dump is written (jail.c, PR_SET_DUMPABLE).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/dns.h"
#include "net/http1.h"
#include "net/policy.h"
#include "netd/netd.h"

#define CA_DAYS	      397 /* the longest a public server certificate may live */
#define SECRETS_BYTES (64u * 1024)

static int tls_fail(char *err, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, len, "%s%s%s", what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
	return -1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

/* A certificate for key named cn, valid from an hour ago (the guest's
 * clock may be behind) for CA_DAYS, with a random serial. */
static X509 *new_cert(EVP_PKEY *key, const char *cn)
{
	unsigned char sn[16];
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	bool ok = x && RAND_bytes(sn, sizeof(sn)) == 1;
	if (ok) {
		sn[0] &= 0x7f; /* a positive serial (RFC 5280 §4.1.2.2) */
		bn = BN_bin2bn(sn, sizeof(sn), NULL);
	}
	X509_NAME *nm = x ? X509_get_subject_name(x) : NULL;
	ok = ok && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_set_version(x, X509_VERSION_3) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), CA_DAYS * 86400L) && X509_set_pubkey(x, key) &&
	     X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"silo", -1,
					-1, 0) &&
	     X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The authority, its constraint naming every secret's host. */
static int make_ca(struct netd_tls *t, char *err, size_t len)
{
	char nc[4096] = "critical";
	size_t used = strlen(nc);
	for (size_t i = 0; i < t->nsec; i++) {
		int k = snprintf(nc + used, sizeof(nc) - used, ",permitted;DNS:%s", t->sec[i].host);
		if (k < 0 || (size_t)k >= sizeof(nc) - used)
			return snprintf(err, len, "too many secret hosts"), -1;
		used += (size_t)k;
	}
	if (!(t->key = EVP_EC_gen("P-256")))
		return tls_fail(err, len, "making a key");
	if (!(t->ca = new_cert(t->key, "silo sandbox egress CA")) ||
	    !X509_set_issuer_name(t->ca, X509_get_subject_name(t->ca)) ||
	    add_ext(t->ca, t->ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(t->ca, t->ca, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(t->ca, t->ca, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(t->ca, t->ca, NID_name_constraints, nc) < 0 ||
	    !X509_sign(t->ca, t->key, EVP_sha256()))
		return tls_fail(err, len, "making the CA certificate");
	return 0;
}

/* ALPN (RFC 7301): HTTP/1.1 or nothing, as the broker frames HTTP/1.1 only.
 * A client that offers no HTTP/1.1 gets no ALPN answer and fails. */
static int alpn_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The guest's side for one host: a certificate from our CA. */
static int make_server(struct netd_tls *t, struct netd_secret *s, char *err, size_t len)
{
	char san[DNS_NAME_TEXT_MAX + 8];
	snprintf(san, sizeof(san), "DNS:%s", s->host);
	X509 *x = new_cert(t->key, s->host);
	bool ok = x && X509_set_issuer_name(x, X509_get_subject_name(t->ca)) &&
		  add_ext(x, t->ca, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		  add_ext(x, t->ca, NID_key_usage, "critical,digitalSignature") == 0 &&
		  add_ext(x, t->ca, NID_ext_key_usage, "serverAuth") == 0 &&
		  add_ext(x, t->ca, NID_subject_alt_name, san) == 0 &&
		  add_ext(x, t->ca, NID_authority_key_identifier, "keyid:always") == 0 &&
		  X509_sign(x, t->key, EVP_sha256());
	if (ok && (s->server = SSL_CTX_new(TLS_server_method()))) {
		SSL_CTX_set_min_proto_version(s->server, TLS1_2_VERSION);
		SSL_CTX_set_options(s->server, SSL_OP_NO_RENEGOTIATION);
		SSL_CTX_set_mode(s->server, SSL_MODE_ENABLE_PARTIAL_WRITE |
						    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_alpn_select_cb(s->server, alpn_http11, NULL);
		ok = SSL_CTX_use_certificate(s->server, x) == 1 &&
		     SSL_CTX_use_PrivateKey(s->server, t->key) == 1;
	}
	X509_free(x);
	return ok && s->server ? 0 : tls_fail(err, len, "making a server certificate");
}

/* The API servers' side: their certificates checked against the host's
 * trust store, and upstream_ca (a company's inspecting proxy, a test's
 * server). */
static int make_client(struct netd_tls *t, const char *upstream_ca, char *err, size_t len)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	if (!(t->client = SSL_CTX_new(TLS_client_method())))
		return tls_fail(err, len, "TLS client context");
	SSL_CTX_set_min_proto_version(t->client, TLS1_2_VERSION);
	SSL_CTX_set_verify(t->client, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->client,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_alpn_protos(t->client, alpn, sizeof(alpn) - 1))
		return tls_fail(err, len, "ALPN");
	X509_STORE *st = SSL_CTX_get_cert_store(t->client);
	/* loaded now, all of it: a CApath directory would be read at each
	 * handshake, from a view that no longer has it */
	bool sys = X509_STORE_load_file(st, X509_get_default_cert_file()) == 1;
	ERR_clear_error();
	if (upstream_ca && X509_STORE_load_file(st, upstream_ca) != 1) {
		char what[600];
		snprintf(what, sizeof(what), "--upstream-ca %s", upstream_ca);
		return tls_fail(err, len, what);
	}
	if (!sys && !upstream_ca) {
		snprintf(err, len,
			 "no trust store at %s to check API servers against: install "
			 "ca-certificates",
			 X509_get_default_cert_file());
		return -1;
	}
	return 0;
}

/* The lines on fd into t->sec; the values into one locked mapping. */
static int read_secrets(struct netd_tls *t, int fd, char *err, size_t len)
{
	char *buf = mmap(NULL, SECRETS_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	size_t got = 0;
	if (buf == MAP_FAILED)
		return snprintf(err, len, "secrets: %s", strerror(errno)), -1;
	/* not swapped out, not in any dump */
	(void)mlock(buf, SECRETS_BYTES);
	(void)madvise(buf, SECRETS_BYTES, MADV_DONTDUMP);
	t->mem = buf;
	for (;;) {
		ssize_t k = read(fd, buf + got, SECRETS_BYTES - 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return snprintf(err, len, "--secrets-fd: %s", strerror(errno)), -1;
		if (k == 0)
			break;
		got += (size_t)k;
		if (got == SECRETS_BYTES - 1)
			return snprintf(err, len, "--secrets-fd: more than %u bytes",
					SECRETS_BYTES - 1),
			       -1;
	}
	close(fd);
	buf[got] = 0;
	for (char *line = buf, *next; *line; line = next) {
		char *f[4], *save = NULL;
		next = strchr(line, '\n');
		if (!next)
			return snprintf(err, len, "--secrets-fd: a line without its newline"), -1;
		*next++ = 0;
		f[0] = strtok_r(line, "\t", &save);
		for (int i = 1; i < 4; i++)
			f[i] = strtok_r(NULL, i == 3 ? "" : "\t", &save);
		if (t->nsec == NETD_MAX_SECRETS)
			return snprintf(err, len, "at most %d secrets", NETD_MAX_SECRETS), -1;
		struct netd_secret *s = &t->sec[t->nsec];
		struct http1_framer probe;
		char host[NET_NAME_MAX + 1];
		if (!f[3] || strlen(f[0]) >= sizeof(s->name) || strlen(f[2]) >= sizeof(s->header) ||
		    net_name_normalize(f[1], strlen(f[1]), host, NULL) != 0 || strcmp(host, f[1]) ||
		    http1_init(&probe, f[2], f[3]) < 0)
			return snprintf(err, len, "--secrets-fd: a malformed line (secret %.64s)",
					f[0] ? f[0] : "?"),
			       -1;
		snprintf(s->name, sizeof(s->name), "%s", f[0]);
		snprintf(s->host, sizeof(s->host), "%s", f[1]);
		snprintf(s->header, sizeof(s->header), "%s", f[2]);
		s->value = f[3];
		t->nsec++;
	}
	return 0;
}

int netd_tls_setup(struct netd_tls *t, int secrets_fd, const char *ca_out, const char *upstream_ca,
		   char *err, size_t len)
{
	if (read_secrets(t, secrets_fd, err, len) < 0)
		return -1;
	if (!t->nsec)
		return 0;
	if (!ca_out)
		return snprintf(err, len, "--secrets-fd wants --ca-out"), -1;
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 || make_ca(t, err, len) < 0 ||
	    make_client(t, upstream_ca, err, len) < 0)
		return -1;
	for (size_t i = 0; i < t->nsec; i++)
		if (make_server(t, &t->sec[i], err, len) < 0)
			return -1;
	/* the certificate only (public): where the sandbox picks it up */
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", ca_out);
	FILE *f = fopen(tmp, "wxe");
	bool ok = f && PEM_write_X509(f, t->ca) == 1;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, ca_out) < 0) {
		int e = errno;
		unlink(tmp);
		return snprintf(err, len, "cannot write %s: %s", ca_out, strerror(e)), -1;
	}
	return 0;
}

const struct netd_secret *netd_secret_for(const struct netd *n, const char *name, uint16_t port)
{
	/* HTTPS only: a key on a plain connection would cross the host's
	 * network in the clear */
	if (port != 443 || !name)
		return NULL;
	for (size_t i = 0; i < n->tls.nsec; i++)
		if (!strcmp(n->tls.sec[i].host, name))
			return &n->tls.sec[i];
	return NULL;
}

void netd_tls_free(struct netd_tls *t)
{
	for (size_t i = 0; i < t->nsec; i++)
		SSL_CTX_free(t->sec[i].server);
	SSL_CTX_free(t->client);
	X509_free(t->ca);
	EVP_PKEY_free(t->key);
	if (t->mem) {
		explicit_bzero(t->mem, SECRETS_BYTES);
		munmap(t->mem, SECRETS_BYTES);
	}
	memset(t, 0, sizeof(*t));
}
