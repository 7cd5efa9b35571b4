/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lsf-criu status: what happened to a job's chain of runs. Gathering
 * (load_ledger, load_ckpt: the ledger, lsf-criu.current and the newest image
 * set's meta.json, into struct ckpt_view) is kept apart from presentation
 * (print_status for humans, print_status_json for scripts): a new field is
 * read once into the view and then printed by both.
 *
 * Expected identity: the job owner (the ledger must be the caller's) or root
 * (any owner's). It only reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cleanup.h"
#include "exitcodes.h"
#include "ledger.h"
#include "log.h"
#include "lsfenv.h"
#include "meta.h"
#include "restarts.h"
#include "util.h"

static void status_usage(FILE *out)
{
	fprintf(out,
		"Usage: lsf-criu status [--json] DIR\n"
		"       lsf-criu status [--json] BASE JOBID\n"
		"\n"
		"Show the chain of runs of a checkpointed job from its ledger: its state, the\n"
		"restarts used and allowed, every run and how it ended, and the newest\n"
		"checkpoint. DIR is a job checkpoint directory ($LSB_CHKPNT_DIR); BASE JOBID\n"
		"names it as in brestart, following LSF's link from an old job ID to the\n"
		"renamed directory. The ledger must belong to the caller unless the caller is\n"
		"root.\n"
		"\n"
		"  -j, --json     print one JSON object for scripts\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n");
}

/* Seconds a run lasted (so far, while it runs), or -1 when unknown. */
static long long run_seconds(const struct lc_run *run)
{
	if (run->start <= 0)
		return -1;
	if (run->end == 0)
		return (long long)time(NULL) >= run->start ? (long long)time(NULL) - run->start
							   : -1;
	return run->end >= run->start ? run->end - run->start : -1;
}

/* A ledger of the caller; as root, of whoever owns the file. */
static int load_ledger(int dirfd, uid_t *ret_owner, struct lc_ledger *l, struct lc_err *err)
{
	struct stat st;

	*ret_owner = getuid();
	if (*ret_owner == 0) {
		if (fstatat(dirfd, LC_LEDGER_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return lc_err_set(err, errno,
					  errno == ENOENT ? "no ledger '%s'"
							  : "cannot read the ledger '%s'",
					  LC_LEDGER_FILE);
		*ret_owner = st.st_uid;
	}
	return lc_ledger_load(dirfd, *ret_owner, l, err);
}

/*
 * Opens BASE/JOBID. On brestart LSF renames BASE/<old> to BASE/<new> and
 * leaves the symlink <old> -> <new>, which openat follows; once that link is
 * gone, the chain is found by the directory whose ledger lists the job.
 */
static int open_chain_dir(const char *base, const char *jobid, struct lc_err *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_close_ int basefd = -1;
	struct dirent *de;
	int fd;

	if (!lc_jobid_ok(jobid))
		return lc_err_set(err, EINVAL, "'%s' is not a job ID", jobid);
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		return lc_err_set(err, errno, "cannot open the checkpoint base directory '%s'",
				  base);
	fd = openat(basefd, jobid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : lc_err_set(err, errno, "cannot open '%s/%s'", base, jobid);
	fd = openat(basefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return lc_err_set(err, errno, "cannot read '%s'", base);
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int sub = -1;
		struct lc_ledger l;
		struct lc_err e2;
		uid_t owner;

		if (!lc_jobid_ok(de->d_name))
			continue;
		sub = openat(basefd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0 || load_ledger(sub, &owner, &l, &e2) < 0)
			continue;
		for (int i = 0; i < l.n_runs; i++)
			if (!strcmp(l.runs[i].jobid, jobid))
				return TAKE_FD(sub);
	}
	return lc_err_set(err, ENOENT, "no directory '%s/%s', and no chain in '%s' lists job %s",
			  base, jobid, base, jobid);
}

struct ckpt_view {
	bool have;
	char imgset[64], jobid[32], criu_version[32];
	long long time, bytes;
	double seconds;
	int processes;	    /* -1 when unknown */
	const char *source; /* "meta.json" or "ledger" */
	char note[600];	    /* why meta.json was not used */
};

/* The newest checkpoint: lsf-criu.current and its meta.json, else the ledger's record. */
static void load_ckpt(int dirfd, uid_t owner, const struct lc_ledger *l, struct ckpt_view *v)
{
	_cleanup_free_ struct lc_meta *m = NULL;
	_cleanup_close_ int imgfd = -1;
	struct lc_err err = { 0 };
	char name[64];
	int r;

	memset(v, 0, sizeof(*v));
	v->processes = -1;
	r = lc_current_load(dirfd, owner, name, sizeof(name), &err);
	if (r == 0) {
		m = calloc(1, sizeof(*m));
		imgfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (!m)
			r = lc_err_set(&err, ENOMEM, "out of memory");
		else if (imgfd < 0)
			r = lc_err_set(&err, errno, "cannot open '%s'", name);
		else
			r = lc_meta_load(imgfd, owner, m, &err);
		if (r == 0) {
			v->have = true;
			snprintf(v->imgset, sizeof(v->imgset), "%s", name);
			snprintf(v->jobid, sizeof(v->jobid), "%s", m->jobid);
			snprintf(v->criu_version, sizeof(v->criu_version), "%s", m->criu_version);
			v->time = m->created;
			v->bytes = m->image_bytes;
			v->seconds = m->dump_seconds;
			v->processes = m->n_pids;
			v->source = "meta.json";
			return;
		}
		snprintf(v->note, sizeof(v->note), "%s: %s", name, err.msg);
	} else if (r != -ENOENT) {
		snprintf(v->note, sizeof(v->note), "%s", err.msg);
	}
	if (!l->ckpt_imgset[0])
		return;
	v->have = true;
	snprintf(v->imgset, sizeof(v->imgset), "%s", l->ckpt_imgset);
	snprintf(v->jobid, sizeof(v->jobid), "%s", l->ckpt_jobid);
	v->time = l->ckpt_time;
	v->bytes = l->ckpt_bytes;
	v->seconds = l->ckpt_seconds;
	v->source = "ledger";
}

static double mib(long long bytes)
{
	return (double)bytes / 1048576.0;
}

/* What the job reads as its restart count (restarts.h): the count, or -1 when none is there. */
static long published_restarts(int dirfd, const struct lc_ledger *l, uid_t owner)
{
	long n;

	return lc_restarts_read(dirfd, l->chain_id, owner, &n) == 0 ? n : -1;
}

static void print_status(const char *path, const struct lc_ledger *l, const struct ckpt_view *v,
			 long published)
{
	char t1[32], t2[32], d[32];
	long long total = 0;

	printf("directory:    %s\n", path);
	printf("chain:        %s (first job ID)\n", l->chain_id);
	printf("state:        %s\n", lc_chain_state_name(l->state));
	if (l->restart_limit >= 0)
		printf("restarts:     %ld of %ld used\n", l->restarts, l->restart_limit);
	else
		printf("restarts:     %ld (no limit fixed yet: the chain has not reached its run "
		       "limit)\n",
		       l->restarts);
	if (l->manual_restarts > 0)
		printf("by hand:      %ld restart%s with brestart\n", l->manual_restarts,
		       l->manual_restarts == 1 ? "" : "s");
	if (published >= 0)
		printf("for the job:  %ld, in $LSB_CHKPNT_DIR.restarts of its first run (%s.restarts "
		       "beside this directory)\n",
		       published, l->chain_id);
	else
		printf("for the job:  none published yet (the job reads a missing "
		       "$LSB_CHKPNT_DIR.restarts as 0)\n");
	if (l->state == LC_CHAIN_OVERRUN) {
		lc_fmt_time(l->req_time, t1, sizeof(t1));
		lc_fmt_time(l->req_deadline, t2, sizeof(t2));
		printf("request:      checkpoint of job %s at its run limit, asked %s, deadline "
		       "%s\n",
		       l->req_jobid, t1, t2);
	}
	printf("runs:         %d\n", l->n_runs);
	printf("  %-12s %-20s %-12s %s\n", "JOB", "STARTED", "RAN", "HOW IT ENDED");
	for (int i = 0; i < l->n_runs; i++) {
		const struct lc_run *run = &l->runs[i];
		long long s = run_seconds(run);

		if (s > 0)
			total += s;
		lc_fmt_time(run->start, t1, sizeof(t1));
		lc_fmt_duration(s, d, sizeof(d));
		printf("  %-12s %-20s %-12s %s\n", run->jobid, t1, d,
		       run->end_reason[0] ? run->end_reason
		       : run->end == 0	  ? "(running)"
					  : "unknown");
	}
	lc_fmt_duration(total, d, sizeof(d));
	printf("run time:     %s in total\n", d);
	if (v->have) {
		lc_fmt_time(v->time, t1, sizeof(t1));
		printf("checkpoint:   %s of job %s, taken %s\n", v->imgset, v->jobid, t1);
		printf("              dump %.2f s (the job was frozen %.2f s), %.1f MiB",
		       v->seconds, v->seconds, mib(v->bytes));
		if (v->seconds > 0)
			printf(", %.1f MiB/s", mib(v->bytes) / v->seconds);
		if (v->processes >= 0)
			printf(", %d process%s", v->processes, v->processes == 1 ? "" : "es");
		if (v->criu_version[0])
			printf(", criu %s", v->criu_version);
		printf(" (from %s)\n", v->source);
	} else {
		printf("checkpoint:   none\n");
	}
	if (v->note[0])
		printf("note:         the newest image set's record is unusable: %s\n", v->note);
	if (l->state == LC_CHAIN_ENDED || l->end_reason[0])
		printf("end:          %s\n", l->end_reason[0] ? l->end_reason : "unknown");
}

/* A JSON string, or null for text jansson refuses (not UTF-8). */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);

	return j ? j : json_null();
}

static int print_status_json(const char *path, const struct lc_ledger *l, const struct ckpt_view *v,
			     long published)
{
	json_t *o = json_object(), *runs = json_array(), *c = NULL, *req = json_null();
	long long total = 0;
	int r = 0;

	if (!o || !runs) {
		json_decref(o);
		json_decref(runs);
		return -ENOMEM;
	}
	for (int i = 0; i < l->n_runs; i++) {
		const struct lc_run *run = &l->runs[i];
		long long s = run_seconds(run);

		if (s > 0)
			total += s;
		json_array_append_new(runs,
				      json_pack("{s:o,s:I,s:I,s:o,s:o}", "jobid", jstr(run->jobid),
						"start", (json_int_t)run->start, "end",
						(json_int_t)run->end, "run_seconds",
						s >= 0 ? json_integer(s) : json_null(),
						"end_reason", jstr(run->end_reason)));
	}
	if (l->req_jobid[0])
		req = json_pack("{s:o,s:I,s:I}", "jobid", jstr(l->req_jobid), "time",
				(json_int_t)l->req_time, "deadline", (json_int_t)l->req_deadline);
	if (v->have)
		c = json_pack("{s:o,s:o,s:I,s:f,s:f,s:I,s:o,s:o,s:o,s:s}", "imgset",
			      jstr(v->imgset), "jobid", jstr(v->jobid), "time", (json_int_t)v->time,
			      "dump_seconds", v->seconds, "frozen_seconds", v->seconds,
			      "image_bytes", (json_int_t)v->bytes, "throughput_mib_s",
			      v->seconds > 0 ? json_real(mib(v->bytes) / v->seconds) : json_null(),
			      "processes",
			      v->processes >= 0 ? json_integer(v->processes) : json_null(),
			      "criu_version",
			      v->criu_version[0] ? jstr(v->criu_version) : json_null(), "source",
			      v->source);
	json_object_set_new(o, "directory", jstr(path));
	json_object_set_new(o, "chain_id", jstr(l->chain_id));
	json_object_set_new(o, "uid", json_integer(l->uid));
	json_object_set_new(o, "state", json_string(lc_chain_state_name(l->state)));
	json_object_set_new(o, "restart_limit", json_integer(l->restart_limit));
	json_object_set_new(o, "restarts", json_integer(l->restarts));
	json_object_set_new(o, "manual_restarts", json_integer(l->manual_restarts));
	json_object_set_new(o, "published_restarts",
			    published >= 0 ? json_integer(published) : json_null());
	json_object_set_new(o, "request", req ? req : json_null());
	json_object_set_new(o, "runs", runs);
	json_object_set_new(o, "total_run_seconds", json_integer(total));
	json_object_set_new(o, "checkpoint", c ? c : json_null());
	json_object_set_new(o, "checkpoint_note", v->note[0] ? jstr(v->note) : json_null());
	json_object_set_new(o, "end_reason", jstr(l->end_reason));
	if (json_dumpf(o, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF)
		r = -EIO;
	json_decref(o);
	return r;
}

int lc_admin_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_free_ struct lc_ledger *l = NULL;
	_cleanup_close_ int dirfd = -1;
	struct lc_err err = { 0 };
	struct ckpt_view v;
	char path[PATH_MAX], link[64];
	const char *what;
	bool json = false;
	uid_t owner;
	long published;
	ssize_t n;
	int c, r;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': status_usage(stdout); return LC_EXIT_OK;
		case 'V': lc_admin_version("status"); return LC_EXIT_OK;
		default:
			return lc_admin_usage_error("status: unknown option '%s'",
						    argv[optind - 1]);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return lc_admin_usage_error("status: expected DIR, or BASE and JOBID");
	what = argv[optind];
	if (argc - optind == 2) {
		dirfd = open_chain_dir(argv[optind], argv[optind + 1], &err);
		what = argv[optind + 1];
	} else {
		dirfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			lc_err_set(&err, errno, "cannot open the checkpoint directory '%s'",
				   argv[optind]);
	}
	if (dirfd < 0) {
		log_error("status of '%s': %s", what, err.msg);
		return LC_EXIT_FAILURE;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else
		path[n] = '\0';
	l = malloc(sizeof(*l));
	if (!l)
		return lc_log_errno(ENOMEM, "status"), LC_EXIT_FAILURE;
	r = load_ledger(dirfd, &owner, l, &err);
	if (r == -ENOENT) {
		log_error("status of '%s': no ledger '%s' there: lsf-criu has recorded nothing "
			  "(no checkpoint and no run-limit action yet), or this is not a job "
			  "checkpoint directory (for a base directory give the job ID too)",
			  path, LC_LEDGER_FILE);
		return LC_EXIT_FAILURE;
	}
	if (r < 0) {
		log_error("status of '%s': %s%s", path, err.msg,
			  r == -EPERM ? " (the ledger must belong to the caller; root may read any)"
				      : "");
		return LC_EXIT_FAILURE;
	}
	load_ckpt(dirfd, owner, l, &v);
	published = published_restarts(dirfd, l, owner);
	if (!json) {
		print_status(path, l, &v, published);
		return LC_EXIT_OK;
	}
	if (print_status_json(path, l, &v, published) < 0) {
		log_error("cannot print the JSON status");
		return LC_EXIT_FAILURE;
	}
	return LC_EXIT_OK;
}
