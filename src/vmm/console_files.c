/* The files of a capped console (console_files.h). */
#include "vmm/console_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

const bool console_file_append[CONSOLE_FILES] = { true, false, false, true };

int console_files_open(const char *path, int fds[CONSOLE_FILES], int extra_flags)
{
	static const char *const suffix[CONSOLE_FILES] = { "", "", ".1", ".2" };
	static const int flags[CONSOLE_FILES] = { O_WRONLY | O_CREAT | O_APPEND, O_WRONLY,
						  O_WRONLY | O_CREAT, O_RDWR | O_CREAT | O_APPEND };
	char p[PATH_MAX];
	int ret = 0;

	for (int i = 0; i < CONSOLE_FILES; i++)
		fds[i] = -1;
	for (int i = 0; i < CONSOLE_FILES && !ret; i++) {
		if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >= (int)sizeof(p))
			ret = -ENAMETOOLONG;
		else if ((fds[i] = open(p, flags[i] | extra_flags | O_NOFOLLOW, 0600)) < 0)
			ret = -errno;
	}
	for (int i = 0; ret && i < CONSOLE_FILES; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	return ret;
}
