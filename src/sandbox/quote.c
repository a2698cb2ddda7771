/* quote.c: every guest-derived string silo prints itself goes through here
 * (agent error strings, `silo diff` paths, exit reasons, names in ls and
 * inspect), so nothing a guest chose reaches the terminal as control bytes
 * and no name can fake a line of output.
 *
 * The rules are git's core.quotePath (quote_c_style in git's quote.c): a
 * string that needs no escape is printed as is; otherwise it is put in
 * double quotes with \a \b \t \n \v \f \r \" \\ and three-digit octal for
 * any other byte that needs it. Unlike git, valid printable UTF-8 stays
 * readable; what is escaped byte by byte:
 *   - C0 controls and DEL (ECMA-48 §5: ESC starts every terminal sequence);
 *   - C1 controls, raw (0x80-0x9f) or UTF-8 encoded (U+0080-U+009F: xterm
 *     and others act on both, e.g. U+009B is CSI);
 *   - bidirectional formatting characters (Unicode UAX #9: U+200E/F,
 *     U+202A-U+202E, U+2066-U+2069), which reorder what the eye sees;
 *   - every byte of an invalid UTF-8 sequence (RFC 3629 §4: overlong forms,
 *     surrogates, beyond U+10FFFF).
 */
#include "sandbox/sandbox.h"

#include <stdlib.h>
#include <string.h>

/* Length (2..4) of the valid UTF-8 sequence at s with its code point in
 * *cp, or 0. s[0] >= 0x80; the string is NUL-terminated, so a sequence cut
 * by the end fails at the NUL (not a continuation byte). */
static size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 1, *cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, *cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, *cp = c & 0x07;
	else
		return 0;
	for (unsigned i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	/* RFC 3629: shortest form only, no surrogates, at most U+10FFFF */
	if ((n == 2 && *cp < 0x800) || (n == 3 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* C1 controls and bidi formatting: valid, but not shown as they are. */
static bool cp_hidden(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Length of the printable UTF-8 character at s, or 0 to escape its bytes. */
static size_t utf8_ok(const unsigned char *s)
{
	unsigned cp;
	size_t n = utf8_decode(s, &cp);
	return n && !cp_hidden(cp) ? n : 0;
}

/* The escape for byte c, or NULL when it is printed as is. */
static const char *esc_for(unsigned char c, char tmp[5])
{
	static const char named[] = "\aa\bb\tt\nn\vv\ff\rr\"\"\\\\";
	const char *p = c ? memchr(named, c, sizeof(named) - 1) : NULL;
	/* memchr may land on the letter half of a pair: only even offsets name */
	if (p && (p - named) % 2 == 0) {
		tmp[0] = '\\', tmp[1] = p[1], tmp[2] = 0;
		return tmp;
	}
	if (c < 0x20 || c >= 0x7f) {
		tmp[0] = '\\';
		tmp[1] = (char)('0' + (c >> 6));
		tmp[2] = (char)('0' + ((c >> 3) & 7));
		tmp[3] = (char)('0' + (c & 7));
		tmp[4] = 0;
		return tmp;
	}
	return NULL;
}

/* One pass over s: the length of the escaped form (without the NUL); with
 * out, also writes what fits in n - room bytes. */
static size_t escape_pass(const char *s, char *out, size_t n, size_t room, bool quotes, bool *cut)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t need = 0;
	char tmp[5];
#define PUT(str, k)                                         \
	do {                                                \
		if (out && !*cut && need + (k) + room <= n) \
			memcpy(out + need, (str), (k));     \
		else if (out)                               \
			*cut = true;                        \
		if (!*cut)                                  \
			need += (k);                        \
	} while (0)
	if (quotes)
		PUT("\"", 1);
	while (*p && !*cut) {
		size_t u = *p >= 0x80 ? utf8_ok(p) : 0;
		if (u) {
			PUT(p, u);
			p += u;
			continue;
		}
		/* without quotes around it, '"' and '\\' cannot end
                 * anything: only what a terminal acts on is escaped */
		const char *e = quotes || (*p != '"' && *p != '\\') ? esc_for(*p, tmp) : NULL;
		if (e)
			PUT(e, strlen(e));
		else
			PUT(p, 1);
		p++;
	}
#undef PUT
	return need;
}

/* s escaped into out (n > 0 bytes with the NUL), never cutting an escape
 * or a UTF-8 character; a cut ends in "..." (and the closing quote). */
static void escape_into(const char *s, char *out, size_t n, bool quotes)
{
	bool cut = false;
	size_t q = quotes ? 1 : 0;
	size_t need = escape_pass(s, NULL, 0, 0, quotes, &cut) + q;
	/* cut only when the whole does not fit; then keep room for "..." */
	size_t room = need + 1 <= n ? 1 + q : 4 + q;
	if (n < 4 + q + 1) {
		out[0] = 0;
		return;
	}
	size_t len = escape_pass(s, out, n, room, quotes, &cut);
	if (cut) {
		memcpy(out + len, "...", 3);
		len += 3;
	}
	if (quotes)
		out[len++] = '"';
	out[len] = 0;
}

static size_t escaped_len(const char *s, bool quotes)
{
	bool cut = false;
	return escape_pass(s, NULL, 0, 0, quotes, &cut) + (quotes ? 1 : 0);
}

bool sb_needs_quote(const char *s)
{
	char tmp[5];
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t u = *p >= 0x80 ? utf8_ok(p) : 0;
		if (u) {
			p += u;
			continue;
		}
		if (esc_for(*p, tmp))
			return true;
		p++;
	}
	return false;
}

char *sb_escape(const char *s, char *buf, size_t n)
{
	escape_into(s, buf, n, false);
	return buf;
}

char *sb_quote(const char *s, char *buf, size_t n)
{
	if (!sb_needs_quote(s)) {
		snprintf(buf, n, "%s", s);
		return buf;
	}
	escape_into(s, buf, n, true);
	return buf;
}

void sb_fputq(FILE *f, const char *s)
{
	if (!sb_needs_quote(s)) {
		fputs(s, f);
		return;
	}
	size_t need = escaped_len(s, true) + 1;
	char *buf = malloc(need);
	if (!buf) {
		fputs("\"?\"", f);
		return;
	}
	escape_into(s, buf, need, true);
	fputs(buf, f);
	free(buf);
}

void sb_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	while (*p) {
		unsigned cp = *p;
		size_t n = *p >= 0x80 ? utf8_decode(p, &cp) : 1;
		if (n == 0) {
			/* RFC 8259 §8.1: JSON text is UTF-8; a byte that is
                         * not becomes U+FFFD rather than invalid output */
			fputs("\\ufffd", f);
			p++;
		} else if (cp == '"' || cp == '\\') {
			fprintf(f, "\\%c", cp);
			p++;
		} else if (cp == '\n' || cp == '\t' || cp == '\r') {
			fprintf(f, "\\%c", cp == '\n' ? 'n' : cp == '\t' ? 't' : 'r');
			p++;
		} else if (cp < 0x20 || cp == 0x7f || cp_hidden(cp)) {
			/* RFC 8259 §7: any character may be escaped */
			fprintf(f, "\\u%04x", cp);
			p += n;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}
