/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: a /proc/<pid>/stat line as lc_proc_parse_stat() reads it. The
 * comm field is chosen by the job (prctl(PR_SET_NAME) or the program name) and
 * may hold blanks, parentheses and digits. An accepted line must give a pid in
 * range, a NUL-terminated comm and a state letter.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_proc *p = fuzz_alloc(sizeof(*p));
	char *text = fuzz_cstr(data, size);
	int r;

	r = lc_proc_parse_stat(text, p);
	if (r == 0) {
		FUZZ_CHECK(p->pid >= 1 && p->pid <= 1 << 22);
		FUZZ_CHECK(strnlen(p->comm, sizeof(p->comm)) < sizeof(p->comm));
		FUZZ_CHECK(isalpha((unsigned char)p->state));
		FUZZ_CHECK((long long)p->start_time >= 0);
		/* The comm is what lies between the first '(' and the last ')'. */
		FUZZ_CHECK(!strncmp(p->comm, strchr(text, '(') + 1, strlen(p->comm)));
	} else {
		FUZZ_CHECK(r < 0);
	}
	free(text);
	free(p);
	return 0;
}
