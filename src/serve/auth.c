/* auth.c: the API key of `silo serve`.
 *
 * One key per data directory: 32 random bytes as 64 hex digits in
 * <data>/serve.token (0600), made on the first start and printed once, or
 * read from --token-file. The server keeps only its BLAKE2b hash, and a
 * request's key is hashed the same way before sodium_memcmp compares the
 * two: constant time, whatever the length the client sent.
 */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_BYTES 32
#define KEY_HEX	  (2 * KEY_BYTES)

static void key_hash(const char *key, size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)key, len, NULL, 0);
}

/* A key file must be a regular file only its owner can read: the key is
 * the whole of the API's authentication. */
static int read_key(const char *path, char *key, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : sb_fail("API key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sb_fail("API key %s is not a regular file", path);
	}
	if (st.st_mode & 077 || st.st_uid != geteuid()) {
		close(fd);
		return sb_fail("API key %s must be yours and private: run 'chmod 600 %s'", path,
			       path);
	}
	ssize_t len = read(fd, key, n - 1);
	close(fd);
	if (len < 0)
		return sb_fail("API key %s: %s", path, strerror(errno));
	key[len] = 0;
	key[strcspn(key, "\r\n")] = 0;
	if (strlen(key) < 16)
		return sb_fail("API key in %s is shorter than 16 characters", path);
	return 0;
}

/* A new key, written with O_EXCL: two servers starting at once on one
 * data directory do not both make one. */
static int make_key(const char *path, char *key, size_t n)
{
	unsigned char raw[KEY_BYTES];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(key, n, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST
			       ? 1
			       : sb_fail("cannot write API key %s: %s", path, strerror(errno));
	char line[KEY_HEX + 2];
	int len = snprintf(line, sizeof(line), "%s\n", key);
	if (write(fd, line, (size_t)len) != len || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return sb_fail("cannot write API key %s: %s", path, strerror(e));
	}
	close(fd);
	/* printed once: from now on it is in the file */
	fprintf(stderr, "silo: API key (kept in %s): %s\n", path, key);
	return 0;
}

int serve_key_load(struct serve *s)
{
	char path[SB_PATH_MAX], key[256];
	int r;

	if (sodium_init() < 0)
		return sb_fail("libsodium failed to initialise");
	if (s->opts->token_file) {
		r = read_key(s->opts->token_file, key, sizeof(key));
		if (r > 0)
			return sb_fail("API key %s: no such file", s->opts->token_file);
	} else {
		if (sb_path(path, "%s/%s", s->paths->data, SERVE_TOKEN_FILE) < 0)
			return -1;
		if (sb_dir_private(s->paths->data, "data directory", s->paths->data_hint, true) < 0)
			return -1;
		r = read_key(path, key, sizeof(key));
		if (r > 0 && (r = make_key(path, key, sizeof(key))) > 0)
			r = read_key(path, key, sizeof(key)); /* another server made it */
	}
	if (r != 0)
		return -1;
	key_hash(key, strlen(key), s->key_hash);
	sodium_memzero(key, sizeof(key));
	return 0;
}

bool serve_authorized(const struct serve *s, struct MHD_Connection *c)
{
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	unsigned char h[32];

	if (!key && auth && !strncasecmp(auth, "Bearer ", 7))
		key = auth + 7;
	if (!key)
		return false;
	key_hash(key, strlen(key), h);
	return sodium_memcmp(h, s->key_hash, sizeof(h)) == 0;
}
