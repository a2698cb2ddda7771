/* test_quote.c: the one quoting helper for guest-derived text (quote.c),
 * `silo diff` printing, and the CLI's JSON strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sandbox/sandbox.h"

static void check_quote(const char *in, const char *want)
{
	char buf[256];
	assert_string_equal(sb_quote(in, buf, sizeof(buf)), want);
	/* the stream form says the same */
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	assert_non_null(f);
	sb_fputq(f, in);
	fclose(f);
	assert_string_equal(mem, want);
	free(mem);
}

static void test_plain_stays(void **state)
{
	(void)state;
	check_quote("src/main.c", "src/main.c");
	check_quote("with space", "with space");
	check_quote("", "");
	/* printable UTF-8 is readable, as with core.quotePath=false */
	check_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_false(sb_needs_quote("a/b c"));
}

static void test_controls_escaped(void **state)
{
	(void)state;
	check_quote("x\nD /workspace/src/main.c", "\"x\\nD /workspace/src/main.c\"");
	check_quote("\033]0;pwned\007", "\"\\033]0;pwned\\a\"");
	check_quote("\033[2J", "\"\\033[2J\"");
	check_quote("tab\there\r", "\"tab\\there\\r\"");
	check_quote("del\x7f", "\"del\\177\"");
	check_quote("\x01\x1f", "\"\\001\\037\"");
	assert_true(sb_needs_quote("a\nb"));
}

static void test_quotes_and_backslash(void **state)
{
	(void)state;
	check_quote("say \"hi\"", "\"say \\\"hi\\\"\"");
	check_quote("a\\b", "\"a\\\\b\"");
}

static void test_bad_utf8_and_c1(void **state)
{
	(void)state;
	check_quote("\xff\xfe", "\"\\377\\376\"");
	check_quote("raw C1 \x9b"
		    "2J",
		    "\"raw C1 \\2332J\"");
	/* U+009B (CSI) in UTF-8 */
	check_quote("\xc2\x9b"
		    "31m",
		    "\"\\302\\23331m\"");
	/* overlong '/', a surrogate, a sequence cut by the end */
	check_quote("\xc0\xaf", "\"\\300\\257\"");
	check_quote("\xed\xa0\x80", "\"\\355\\240\\200\"");
	check_quote("ok\xe2\x82", "\"ok\\342\\202\"");
	/* U+202E RIGHT-TO-LEFT OVERRIDE reorders what the reader sees */
	check_quote("evil\xe2\x80\xaetxt.exe", "\"evil\\342\\200\\256txt.exe\"");
}

static void test_escape_without_quotes(void **state)
{
	(void)state;
	char buf[64];
	assert_string_equal(sb_escape("no such file\n\033[31m", buf, sizeof(buf)),
			    "no such file\\n\\033[31m");
	assert_string_equal(sb_escape("fine", buf, sizeof(buf)), "fine");
	assert_string_equal(sb_escape("'a' \"b\" c\\d", buf, sizeof(buf)), "'a' \"b\" c\\d");
}

static void test_cut_never_splits(void **state)
{
	(void)state;
	char buf[12];
	/* 10 ESC bytes need 40 characters: the cut lands between escapes */
	sb_escape("\033\033\033\033\033\033\033\033\033\033", buf, sizeof(buf));
	assert_string_equal(buf, "\\033\\033...");
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	sb_quote("\033\033\033\033\033\033\033\033\033\033", buf, sizeof(buf));
	assert_string_equal(buf, "\"\\033...\"");
	assert_true(strlen(buf) < sizeof(buf));
	/* and never splits a UTF-8 character */
	sb_escape("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", buf, 9);
	assert_string_equal(buf, "\xe2\x82\xac...");
}

/* The manifest as MANIFEST_SH writes it (workspace.c): NUL-terminated. */
#define REC(s) s "\0"
#define H1     "0000000000000000000000000000000000000000000000000000000000000001"
#define H2     "0000000000000000000000000000000000000000000000000000000000000002"

static void test_diff_printing(void **state)
{
	(void)state;
	static const char before[] = REC("M f 644 ./src/main.c") REC(H1 "  ./src/main.c");
	/* main.c deleted; a new file whose name holds a newline, one with an
         * ESC sequence, one with a tab; a symlink whose target has a newline */
	static const char after[] = REC("M f 644 ./x\nD /workspace/src/main.c")
		REC(H2 "  ./x\nD /workspace/src/main.c") REC("M f 644 ./x\nM f 644 ./src/main.c")
			REC("M f 644 ./\033[2Jy\tz") REC("M l 777 ./l") REC("L ./l") REC("a\nb");
	char *diff;
	assert_int_equal(
		sb_manifest_diff(before, sizeof(before) - 1, after, sizeof(after) - 1, &diff), 0);
	assert_string_equal(diff, "A \"/workspace/\\033[2Jy\\tz\"\n"
				  "A /workspace/l\n"
				  "D /workspace/src/main.c\n"
				  "A \"/workspace/x\\nD /workspace/src/main.c\"\n"
				  "A \"/workspace/x\\nM f 644 ./src/main.c\"\n");
	assert_null(strchr(diff, '\033'));
	free(diff);
}

static char *json(const char *in)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	assert_non_null(f);
	sb_json_str(f, in);
	fclose(f);
	return mem;
}

static void test_json(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "nl\ntab\tcr\r", "\"nl\\ntab\\tcr\\r\"" },
		{ "\033[2J\x7f", "\"\\u001b[2J\\u007f\"" },
		/* U+009B in UTF-8 is a control too (RFC 8259 lets us escape any) */
		{ "\xc2\x9b", "\"\\u009b\"" },
		/* invalid UTF-8 cannot be JSON text (RFC 8259 §8.1): U+FFFD */
		{ "\xff!", "\"\\ufffd!\"" },
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
		{ "\xe2\x80\xae", "\"\\u202e\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json(cases[i].in);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_stays),
		cmocka_unit_test(test_controls_escaped),
		cmocka_unit_test(test_quotes_and_backslash),
		cmocka_unit_test(test_bad_utf8_and_c1),
		cmocka_unit_test(test_escape_without_quotes),
		cmocka_unit_test(test_cut_never_splits),
		cmocka_unit_test(test_diff_printing),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
