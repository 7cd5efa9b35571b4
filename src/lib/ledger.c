/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chain ledger; see ledger.h.
 *
 * Contract:
 * 1. Readers MUST check every field's type, range and length, reject a
 *    newer version, duplicate keys, and a file not owned by the caller.
 * 2. Writers MUST hold the ledger lock and write atomically (temp, fsync,
 *    rename, fsync of the directory), relative to the directory fd, so a
 *    rename of the directory by LSF does not matter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "ledger.h"
#include "restarts.h"
#include "util.h"

static const char *const state_names[LC_CHAIN_STATE_COUNT] = {
	[LC_CHAIN_RUNNING] = "running",
	[LC_CHAIN_OVERRUN] = "overrun-checkpoint-requested",
	[LC_CHAIN_CHECKPOINTED] = "checkpointed",
	[LC_CHAIN_RESTARTING] = "restarting",
	[LC_CHAIN_ENDED] = "ended",
	[LC_CHAIN_HELD] = "checkpointed-on-request",
};

const char *lc_chain_state_name(enum lc_chain_state s)
{
	return s < LC_CHAIN_STATE_COUNT ? state_names[s] : "?";
}

int lc_ledger_lock(int dirfd, int timeout, struct lc_err *err)
{
	_cleanup_close_ int fd = -1;
	double end = lc_now() + timeout;
	struct stat st;

	fd = openat(dirfd, LC_LEDGER_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return lc_err_set(err, errno, "cannot open '%s'", LC_LEDGER_LOCK);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid())
		return lc_err_set(err, EPERM, "'%s' is not a regular file of uid %u",
				  LC_LEDGER_LOCK, (unsigned)getuid());
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return lc_err_set(err, errno, "cannot lock '%s'", LC_LEDGER_LOCK);
		if (lc_now() >= end)
			return lc_err_set(err, EBUSY, "'%s' stays locked", LC_LEDGER_LOCK);
		lc_msleep(50);
	}
	return TAKE_FD(fd);
}

void lc_ledger_init(struct lc_ledger *l, const char *jobid, uid_t uid)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->chain_id, sizeof(l->chain_id), "%s", jobid);
	l->uid = uid;
	l->state = LC_CHAIN_RUNNING;
	l->restart_limit = -1;
}

struct lc_run *lc_ledger_find_run(struct lc_ledger *l, const char *jobid)
{
	for (int i = 0; i < l->n_runs; i++)
		if (!strcmp(l->runs[i].jobid, jobid))
			return &l->runs[i];
	return NULL;
}

struct lc_run *lc_ledger_run(struct lc_ledger *l, const char *jobid, long long start)
{
	struct lc_run *r = lc_ledger_find_run(l, jobid);

	if (r)
		return r;
	if (l->n_runs >= LC_LEDGER_MAX_RUNS)
		return NULL;
	r = &l->runs[l->n_runs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->jobid, sizeof(r->jobid), "%s", jobid);
	r->start = start;
	return r;
}

#define T_MAX (1LL << 40)

/* A number field in [0, max]. */
static int get_seconds(json_t *o, const char *key, double max, double *ret, struct lc_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > max)
		return lc_err_set(err, EINVAL, "field '%s' missing or out of range", key);
	*ret = json_number_value(v);
	return 0;
}

static int parse_ckpts(json_t *arr, struct lc_ledger *l, struct lc_err *err)
{
	json_t *v;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > LC_LEDGER_MAX_CKPTS)
		return lc_err_set(err, EINVAL, "field 'checkpoints' is not a list of at most %d",
				  LC_LEDGER_MAX_CKPTS);
	json_array_foreach (arr, i, v) {
		struct lc_ckpt_sample *c = &l->ckpts[l->n_ckpts];

		if (!json_is_object(v))
			return lc_err_set(err, EINVAL, "a checkpoint is not an object");
		if (lc_json_str(v, "jobid", c->jobid, sizeof(c->jobid), err) < 0 ||
		    lc_json_int(v, "time", 0, T_MAX, &c->time, err) < 0 ||
		    lc_json_int(v, "bytes", 0, 1LL << 50, &c->bytes, err) < 0 ||
		    lc_json_int(v, "mem_bytes", 0, 1LL << 50, &c->mem_bytes, err) < 0 ||
		    get_seconds(v, "seconds", 1e7, &c->seconds, err) < 0)
			return -err->code;
		l->n_ckpts++;
	}
	return 0;
}

int lc_ledger_parse(const char *text, struct lc_ledger *l, struct lc_err *err)
{
	json_t *o, *runs, *v;
	char state[64];
	long long x, version;
	size_t i;
	int r = -EINVAL;

	memset(l, 0, sizeof(*l));
	o = lc_json_parse(text, err);
	if (!o)
		return -err->code;
	if (lc_json_check_version(o, LC_LEDGER_VERSION, err) < 0 ||
	    lc_json_int(o, "version", 1, LC_LEDGER_VERSION, &version, err) < 0)
		goto out;
	if (lc_json_str(o, "chain_id", l->chain_id, sizeof(l->chain_id), err) < 0 ||
	    lc_json_int(o, "uid", 0, 0xfffffffeLL, &x, err) < 0)
		goto out;
	l->uid = (uid_t)x;
	if (lc_json_str(o, "state", state, sizeof(state), err) < 0)
		goto out;
	l->state = LC_CHAIN_STATE_COUNT;
	for (int s = 0; s < LC_CHAIN_STATE_COUNT; s++)
		if (!strcmp(state, state_names[s]))
			l->state = (enum lc_chain_state)s;
	if (l->state == LC_CHAIN_STATE_COUNT || (version < 2 && l->state == LC_CHAIN_HELD)) {
		lc_err_set(err, EINVAL, "unknown state '%s'", state);
		goto out;
	}
	if (lc_json_int(o, "restart_limit", -1, 1000000, &x, err) < 0)
		goto out;
	l->restart_limit = (long)x;
	if (lc_json_int(o, "restarts", 0, 1000000, &x, err) < 0)
		goto out;
	l->restarts = (long)x;
	if (lc_json_str(o, "request_jobid", l->req_jobid, sizeof(l->req_jobid), err) < 0 ||
	    lc_json_int(o, "request_time", 0, T_MAX, &l->req_time, err) < 0 ||
	    lc_json_int(o, "request_deadline", 0, T_MAX, &l->req_deadline, err) < 0 ||
	    lc_json_str(o, "checkpoint_jobid", l->ckpt_jobid, sizeof(l->ckpt_jobid), err) < 0 ||
	    lc_json_str(o, "checkpoint_imgset", l->ckpt_imgset, sizeof(l->ckpt_imgset), err) < 0 ||
	    lc_json_int(o, "checkpoint_time", 0, T_MAX, &l->ckpt_time, err) < 0 ||
	    lc_json_int(o, "checkpoint_bytes", 0, 1LL << 50, &l->ckpt_bytes, err) < 0 ||
	    lc_json_str(o, "end_reason", l->end_reason, sizeof(l->end_reason), err) < 0)
		goto out;
	if (get_seconds(o, "checkpoint_seconds", 1e7, &l->ckpt_seconds, err) < 0)
		goto out;
	/* Version 1 had neither field: no manual restart, no history. */
	if (version >= 2) {
		if (lc_json_int(o, "manual_restarts", 0, 1000000, &x, err) < 0 ||
		    parse_ckpts(json_object_get(o, "checkpoints"), l, err) < 0)
			goto out;
		l->manual_restarts = (long)x;
	}
	runs = json_object_get(o, "runs");
	if (!json_is_array(runs) || json_array_size(runs) > LC_LEDGER_MAX_RUNS) {
		lc_err_set(err, EINVAL, "field 'runs' missing or holds more than %d runs",
			   LC_LEDGER_MAX_RUNS);
		goto out;
	}
	json_array_foreach (runs, i, v) {
		struct lc_run *run = &l->runs[l->n_runs];

		if (!json_is_object(v)) {
			lc_err_set(err, EINVAL, "a run is not an object");
			goto out;
		}
		if (lc_json_str(v, "jobid", run->jobid, sizeof(run->jobid), err) < 0 ||
		    lc_json_int(v, "start", 0, T_MAX, &run->start, err) < 0 ||
		    lc_json_int(v, "end", 0, T_MAX, &run->end, err) < 0 ||
		    lc_json_str(v, "end_reason", run->end_reason, sizeof(run->end_reason), err) <
			    0 ||
		    (version >= 2 && lc_json_str(v, "host", run->host, sizeof(run->host), err) < 0))
			goto out;
		l->n_runs++;
	}
	r = 0;
out:
	json_decref(o);
	return r;
}

int lc_ledger_load(int dirfd, uid_t owner, struct lc_ledger *l, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	r = lc_read_file_at(dirfd, LC_LEDGER_FILE, 1 << 20, owner, &txt, NULL);
	if (r == -ENOENT)
		return lc_err_set(err, ENOENT, "no ledger '%s'", LC_LEDGER_FILE);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read the ledger '%s'", LC_LEDGER_FILE);
	r = lc_ledger_parse(txt, l, err);
	if (r < 0)
		return lc_err_wrap(err, "the ledger '%s' is unusable", LC_LEDGER_FILE);
	if (l->uid != owner)
		return lc_err_set(err, EPERM, "the ledger '%s' names uid %u, not %u",
				  LC_LEDGER_FILE, (unsigned)l->uid, (unsigned)owner);
	return 0;
}

int lc_ledger_save(int dirfd, const struct lc_ledger *l)
{
	json_t *o = json_object(), *runs = json_array(), *ckpts = json_array();
	int r;

	if (!o || !runs || !ckpts) {
		json_decref(o);
		json_decref(runs);
		json_decref(ckpts);
		return -ENOMEM;
	}
	for (int i = 0; i < l->n_runs; i++)
		json_array_append_new(runs, json_pack("{s:o,s:I,s:I,s:o,s:o}", "jobid",
						      lc_json_text(l->runs[i].jobid), "start",
						      (json_int_t)l->runs[i].start, "end",
						      (json_int_t)l->runs[i].end, "end_reason",
						      lc_json_text(l->runs[i].end_reason), "host",
						      lc_json_text(l->runs[i].host)));
	for (int i = 0; i < l->n_ckpts; i++)
		json_array_append_new(ckpts, json_pack("{s:o,s:I,s:I,s:I,s:f}", "jobid",
						       lc_json_text(l->ckpts[i].jobid), "time",
						       (json_int_t)l->ckpts[i].time, "bytes",
						       (json_int_t)l->ckpts[i].bytes, "mem_bytes",
						       (json_int_t)l->ckpts[i].mem_bytes, "seconds",
						       l->ckpts[i].seconds));
	json_object_set_new(o, "version", json_integer(LC_LEDGER_VERSION));
	json_object_set_new(o, "chain_id", lc_json_text(l->chain_id));
	json_object_set_new(o, "uid", json_integer(l->uid));
	json_object_set_new(o, "state", json_string(lc_chain_state_name(l->state)));
	json_object_set_new(o, "restart_limit", json_integer(l->restart_limit));
	json_object_set_new(o, "restarts", json_integer(l->restarts));
	json_object_set_new(o, "request_jobid", lc_json_text(l->req_jobid));
	json_object_set_new(o, "request_time", json_integer(l->req_time));
	json_object_set_new(o, "request_deadline", json_integer(l->req_deadline));
	json_object_set_new(o, "checkpoint_jobid", lc_json_text(l->ckpt_jobid));
	json_object_set_new(o, "checkpoint_imgset", lc_json_text(l->ckpt_imgset));
	json_object_set_new(o, "checkpoint_time", json_integer(l->ckpt_time));
	json_object_set_new(o, "checkpoint_seconds", json_real(l->ckpt_seconds));
	json_object_set_new(o, "checkpoint_bytes", json_integer(l->ckpt_bytes));
	json_object_set_new(o, "end_reason", lc_json_text(l->end_reason));
	json_object_set_new(o, "manual_restarts", json_integer(l->manual_restarts));
	json_object_set_new(o, "runs", runs);
	json_object_set_new(o, "checkpoints", ckpts);
	r = lc_json_save(dirfd, LC_LEDGER_FILE, o);
	if (r < 0)
		return r;
	/* For the job itself, beside the directory LSF renames; best effort. */
	(void)lc_restarts_publish(dirfd, l->chain_id, l->restarts + l->manual_restarts);
	return 0;
}
