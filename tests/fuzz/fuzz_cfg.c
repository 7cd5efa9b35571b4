/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the configuration file (/etc/lsf-criu.conf or $LSF_CRIU_CONF)
 * as lc_cfg_parse() reads it, over the built-in defaults as lc_cfg_load()
 * sets them. Whatever the text, every setting must keep a valid value: an
 * absolute criu path, a known policy, waits of 0 to 86400 s.
 */
#include <limits.h>
#include <string.h>

#include "cfg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_cfg *cfg = fuzz_alloc(sizeof(*cfg));
	char *text = fuzz_cstr(data, size);

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->criu, sizeof(cfg->criu), "%s", "/usr/local/libexec/lsf-criu/criu");
	cfg->missing = LC_MISSING_FAIL;
	cfg->pid_wait_seconds = 60;
	cfg->kill_wait_seconds = 10;
	lc_cfg_parse(cfg, text);
	FUZZ_CHECK(strnlen(cfg->criu, sizeof(cfg->criu)) < sizeof(cfg->criu));
	FUZZ_CHECK(cfg->criu[0] == '/');
	FUZZ_CHECK(cfg->missing == LC_MISSING_FAIL || cfg->missing == LC_MISSING_RERUN);
	FUZZ_CHECK(cfg->pid_wait_seconds >= 0 && cfg->pid_wait_seconds <= 86400);
	FUZZ_CHECK(cfg->kill_wait_seconds >= 0 && cfg->kill_wait_seconds <= 86400);
	FUZZ_CHECK(cfg->path[0] == '\0');
	free(text);
	free(cfg);
	return 0;
}
