# mk/format.mk: one C style across the tree (.clang-format: the kernel's,
# 100 columns), applied by `make format`, checked by `make format-check`
# (.ci/run). Debian 12's clang-format 14: another version may format some
# lines differently, so CI and developers use the same one.

FORMAT_SRCS = $(shell git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' 'tests/e2e/*.[ch]')

.PHONY: format format-check
format:
	@scripts/deps.sh format
	@clang-format -i $(FORMAT_SRCS)

format-check:
	@scripts/deps.sh format
	@clang-format --dry-run --Werror $(FORMAT_SRCS) 2>&1 | head -20; \
	 if ! clang-format --dry-run --Werror $(FORMAT_SRCS) >/dev/null 2>&1; then \
	   echo "format-check: the files above differ from .clang-format: run make format"; exit 1; fi
