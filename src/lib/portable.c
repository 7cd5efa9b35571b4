/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an image needs from a host; see portable.h.
 *
 * Contract:
 * 1. Recording reads only /proc of the job's own processes (they belong to
 *    the caller) and never follows anything the job controls into a write.
 * 2. The record is read strictly (types, ranges, lengths, at most
 *    LC_NEEDS_MAX paths) and must belong to the caller.
 * 3. A check reports the first problem in one line naming the path or the
 *    feature; it never changes anything on the host.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cleanup.h"
#include "criu.h"
#include "json.h"
#include "log.h"
#include "nsjob.h"
#include "portable.h"
#include "proc.h"
#include "restarts.h"
#include "spawn.h"
#include "util.h"

#define NEEDS_VERSION 1

/*
 * The instruction-set features a job may use (criu's own list for its
 * "ins" CPU check, plus the newer vector extensions), named as in the
 * "flags" line of /proc/cpuinfo on x86. Left out: hle and rtm (TSX), which
 * microcode and kernels switch off on hosts of one model alike, and code
 * must test anyway (an aborted transaction is not a fault).
 */
static const char *const ins_flags[] = {
	"fpu",	    "tsc",	"cx8",	      "sep",	     "cmov",	      "clflush",
	"mmx",	    "fxsr",	"sse",	      "sse2",	     "syscall",	      "mmxext",
	"rdtscp",   "3dnowext", "3dnow",      "pni",	     "pclmulqdq",     "monitor",
	"ssse3",    "fma",	"cx16",	      "sse4_1",	     "sse4_2",	      "movbe",
	"popcnt",   "aes",	"xsave",      "osxsave",     "avx",	      "f16c",
	"rdrand",   "abm",	"sse4a",      "misalignsse", "3dnowprefetch", "xop",
	"fma4",	    "tbm",	"fsgsbase",   "bmi1",	     "avx2",	      "bmi2",
	"erms",	    "avx512f",	"avx512dq",   "rdseed",	     "adx",	      "clflushopt",
	"clwb",	    "avx512pf", "avx512er",   "avx512cd",    "sha_ni",	      "avx512bw",
	"avx512vl", "xsaveopt", "xsavec",     "xgetbv1",     "avx512vbmi",    "avx512_vbmi2",
	"gfni",	    "vaes",	"vpclmulqdq", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq",
	"rdpid",    "clzero",	"avx_vnni",   "avx512_bf16", "avx512_fp16",   "amx_tile",
	"amx_bf16", "amx_int8", "movdiri",    "movdir64b",
};

static const char *const type_names[] = {
	[LC_NEED_DIR] = "dir",
	[LC_NEED_FILE] = "file",
	[LC_NEED_DEV] = "device",
};

int lc_criu_version_cmp(const char *a, const char *b)
{
	unsigned va[3] = { 0 }, vb[3] = { 0 };

	if (sscanf(a, "%u.%u.%u", &va[0], &va[1], &va[2]) < 2 ||
	    sscanf(b, "%u.%u.%u", &vb[0], &vb[1], &vb[2]) < 2)
		return 0;
	for (int i = 0; i < 3; i++)
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	return 0;
}

bool lc_is_restore_command(char **argv, char ***ret_argv)
{
	char self[PATH_MAX], mine[PATH_MAX + 32], *slash;
	struct stat a, b;
	ssize_t n;

	if (argv[0] && !strcmp(argv[0], "exec"))
		argv++;
	if (!argv[0] || argv[0][0] != '/')
		return false;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(mine, sizeof(mine), "%s/lsf-criu-restore", self);
	if (stat(mine, &a) < 0 || stat(argv[0], &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return false;
	*ret_argv = argv;
	return true;
}

void lc_portable_run_started(int dirfd, const char *jobid, bool restarted)
{
	if (lc_given_record(dirfd, jobid) < 0)
		log_warn("cannot record the output LSF gives job %s, ignoring", jobid);
	if (!restarted && lc_restarts_start(dirfd, jobid) < 0)
		log_warn("cannot publish the restart count of job %s, ignoring", jobid);
}

static bool known_flag(const char *f)
{
	for (size_t i = 0; i < sizeof(ins_flags) / sizeof(ins_flags[0]); i++)
		if (!strcmp(ins_flags[i], f))
			return true;
	return false;
}

void lc_cpu_read(struct lc_cpu *c)
{
	_cleanup_free_ char *txt = NULL;
	struct utsname u;
	char *line, *save = NULL;

	memset(c, 0, sizeof(*c));
	if (uname(&u) == 0)
		snprintf(c->arch, sizeof(c->arch), "%s", u.machine);
	if (lc_read_file_at(AT_FDCWD, "/proc/cpuinfo", 16 << 20, (uid_t)-1, &txt, NULL) == 0) {
		for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *colon, *tok, *s2 = NULL;

			if (strncmp(line, "flags", 5) || !(colon = strchr(line, ':')))
				continue;
			for (tok = strtok_r(colon + 1, " \t", &s2); tok;
			     tok = strtok_r(NULL, " \t", &s2))
				if (known_flag(tok) && c->n_flags < LC_CPU_MAX_FLAGS)
					snprintf(c->flags[c->n_flags++], sizeof(c->flags[0]), "%s",
						 tok);
			break; /* the first processor stands for all */
		}
	}
#if defined(__x86_64__) || defined(__i386__)
	{
		unsigned eax, ebx, ecx, edx;

		if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_OSXSAVE) &&
		    __get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx)) {
			c->xfeatures = (unsigned long long)eax | ((unsigned long long)edx << 32);
			c->xsave_size = ebx;
			c->xsave_size_max = ecx;
		}
	}
#endif
}

/*
 * The GNU build-id of an ELF file (what criu compares for the files it maps
 * or opens, by default), as hex into buf (41 bytes); "" when the file is not
 * a 64-bit ELF file or has none. Bounded reads through an fd of the file.
 */
static void elf_build_id(int fd, char *buf)
{
	Elf64_Ehdr eh;
	struct stat st;

	buf[0] = '\0';
	if (fstat(fd, &st) < 0 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256 ||
	    eh.e_phoff > (Elf64_Off)st.st_size)
		return;
	for (int i = 0; i < eh.e_phnum; i++) {
		unsigned char notes[4096];
		Elf64_Phdr ph;
		size_t off = 0, len;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof(ph))) !=
			    sizeof(ph) ||
		    ph.p_type != PT_NOTE || ph.p_offset > (Elf64_Off)st.st_size)
			continue;
		len = ph.p_filesz < sizeof(notes) ? (size_t)ph.p_filesz : sizeof(notes);
		if (pread(fd, notes, len, (off_t)ph.p_offset) != (ssize_t)len)
			continue;
		while (off + sizeof(Elf64_Nhdr) <= len) {
			Elf64_Nhdr nh;
			size_t name_at = off + sizeof(nh), desc_at, next;

			memcpy(&nh, notes + off, sizeof(nh));
			desc_at = name_at + ((nh.n_namesz + 3) & ~3U);
			next = desc_at + ((nh.n_descsz + 3) & ~3U);
			if (nh.n_namesz > len || nh.n_descsz > len || next > len || next <= off)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(notes + name_at, "GNU", 4) && nh.n_descsz > 0 &&
			    nh.n_descsz <= 20) {
				for (unsigned k = 0; k < nh.n_descsz; k++)
					snprintf(buf + 2 * k, 3, "%02x", notes[desc_at + k]);
				return;
			}
			off = next;
		}
	}
}

static void path_build_id(const char *path, char *buf)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	buf[0] = '\0';
	if (fd >= 0)
		elf_build_id(fd, buf);
}

struct collect {
	struct lc_needs *n;
	char chkdir[PATH_MAX]; /* realpath of the checkpoint directory, with a trailing '/' */
	const struct lc_meta *m;
	const struct lc_output *out;
	bool stopped; /* the job cannot write any more: its file sizes are final */
	struct lc_err *err;
};

static bool excluded(const struct collect *c, const char *path)
{
	size_t n = strlen(path);

	if (path[0] != '/' || (n > 10 && !strcmp(path + n - 10, " (deleted)")))
		return true;
	if (!strncmp(path, "/proc/", 6) || !strcmp(path, "/proc") || !strncmp(path, "/dev/pts/", 9))
		return true;
	if (c->chkdir[0] && (!strncmp(path, c->chkdir, strlen(c->chkdir)) ||
			     !strncmp(path, c->chkdir, strlen(c->chkdir) - 1)))
		return true; /* the checkpoint directory itself and everything in it */
	for (int i = 0; c->m && i < c->m->n_files; i++)
		if (!strcmp(c->m->files[i].path, path))
			return true; /* restored from its saved copy */
	for (int i = 0; c->out && i < c->out->n; i++)
		if (c->out->fds[i].lsf && !strcmp(c->out->fds[i].path, path))
			return true; /* rebound to the output LSF gives the new job */
	return false;
}

static void add_need(struct collect *c, const char *path, enum lc_need_type type, long long size,
		     const char *what, pid_t pid, const char *comm)
{
	struct lc_needs *n = c->n;
	struct lc_need *e;

	if (excluded(c, path) || strlen(path) >= sizeof(n->v[0].path))
		return;
	for (int i = 0; i < n->n; i++) {
		if (strcmp(n->v[i].path, path))
			continue;
		/* A file the job also writes may still grow: its size is left to criu. */
		if (size < 0)
			n->v[i].size = -1;
		return;
	}
	if (n->n >= LC_NEEDS_MAX) {
		if (n->n == LC_NEEDS_MAX)
			log_warn("the job uses more than %d files; only the first are checked before "
				 "a restore",
				 LC_NEEDS_MAX);
		return;
	}
	e = &n->v[n->n++];
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->type = type;
	e->size = size;
	if (type == LC_NEED_FILE && size >= 0)
		path_build_id(path, e->build_id);
	snprintf(e->why, sizeof(e->why), "%s process %d (%s)", what, (int)pid, comm);
}

static void collect_fds(struct collect *c, pid_t pid, const char *comm)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char dpath[64];

	snprintf(dpath, sizeof(dpath), "/proc/%d/fd", (int)pid);
	d = opendir(dpath);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char target[4096], link[96];
		long fd;
		long long pos;
		int flags;
		struct stat st;

		if (lc_parse_long(de->d_name, 0, 1 << 20, &fd) < 0 ||
		    lc_proc_fd_target(pid, (int)fd, target, sizeof(target)) < 0 || target[0] != '/')
			continue;
		snprintf(link, sizeof(link), "/proc/%d/fd/%ld", (int)pid, fd);
		if (stat(link, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			add_need(c, target, LC_NEED_DIR, -1, "a directory open in", pid, comm);
		} else if (S_ISREG(st.st_mode)) {
			/*
			 * criu checks the size of every file but one opened only for
			 * appending. A file the job writes has that size only while
			 * the job is stopped after the dump: otherwise it may still
			 * grow, and its size is left to criu's own check at restore.
			 */
			bool known = lc_proc_fdinfo(pid, (int)fd, &pos, &flags) == 0;
			bool checked = known &&
				       ((flags & O_ACCMODE) == O_RDONLY ||
					(c->stopped &&
					 !((flags & O_APPEND) && (flags & O_ACCMODE) == O_WRONLY)));

			add_need(c, target, LC_NEED_FILE, checked ? (long long)st.st_size : -1,
				 "a file open in", pid, comm);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			add_need(c, target, LC_NEED_DEV, -1, "a device open in", pid, comm);
		}
	}
}

static void collect_maps(struct collect *c, pid_t pid, const char *comm)
{
	_cleanup_free_ char *txt = NULL;
	char path[64], *line, *save = NULL;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (lc_read_file_at(AT_FDCWD, path, 64 << 20, (uid_t)-1, &txt, NULL) < 0)
		return;
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long ino;
		struct stat st;
		int off = 0;
		char *file;

		if (sscanf(line, "%*s %*s %*s %*s %llu %n", &ino, &off) != 1 || !ino || !off)
			continue;
		file = line + off;
		while (*file == ' ')
			file++;
		if (file[0] != '/' || stat(file, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (unsigned long long)st.st_ino != ino)
			continue; /* replaced since it was mapped: criu carries it or fails on it */
		add_need(c, file, LC_NEED_FILE, (long long)st.st_size, "a file mapped by", pid,
			 comm);
	}
}

static json_t *needs_json(const struct lc_needs *n)
{
	json_t *o = json_object(), *v = json_array(), *cpu = json_object(), *flags = json_array();

	if (!o || !v || !cpu || !flags) {
		json_decref(o), json_decref(v), json_decref(cpu), json_decref(flags);
		return NULL;
	}
	for (int i = 0; i < n->cpu.n_flags; i++)
		json_array_append_new(flags, json_string(n->cpu.flags[i]));
	json_object_set_new(cpu, "arch", json_string(n->cpu.arch));
	json_object_set_new(cpu, "flags", flags);
	json_object_set_new(cpu, "xfeatures", json_integer((json_int_t)n->cpu.xfeatures));
	json_object_set_new(cpu, "xsave_size", json_integer(n->cpu.xsave_size));
	json_object_set_new(cpu, "xsave_size_max", json_integer(n->cpu.xsave_size_max));
	for (int i = 0; i < n->n; i++) {
		const struct lc_need *e = &n->v[i];
		json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s}", "path", e->path, "type",
				      type_names[e->type], "size", (json_int_t)e->size, "why",
				      e->why, "build_id", e->build_id);

		/* jansson refuses a path that is not UTF-8: that one is not checked. */
		if (!j || json_array_append_new(v, j) < 0)
			log_warn("cannot record '%s' for the check before a restore, ignoring",
				 e->path);
	}
	json_object_set_new(o, "version", json_integer(NEEDS_VERSION));
	json_object_set_new(o, "jobid", json_string(n->jobid));
	json_object_set_new(o, "host", json_string(n->host));
	json_object_set_new(o, "kernel", json_string(n->kernel));
	json_object_set_new(o, "criu_version", json_string(n->criu_version));
	json_object_set_new(o, "namespaced", json_boolean(n->ns));
	json_object_set_new(o, "cpu", cpu);
	json_object_set_new(o, "needs", v);
	return o;
}

int lc_portable_record(int imgfd, int dirfd, const char *chkdir, const struct lc_job_procs *j,
		       const struct lc_meta *m, bool stopped, struct lc_err *err)
{
	struct lc_output out;
	struct lc_needs n = { 0 };
	struct collect c = { .n = &n, .m = m, .out = &out, .stopped = stopped, .err = err };
	struct utsname u;
	int r;

	lc_output_classify(j, dirfd, m->jobid, &out);
	for (int i = 0; i < out.n; i++)
		if (out.fds[i].fd > 0)
			log_info("job fd %d is '%s': %s%s", out.fds[i].fd, out.fds[i].path,
				 out.fds[i].why[0] ? out.fds[i].why : "not a file",
				 out.fds[i].lsf ? ", LSF's output (the restarted job gets its own)"
						: "");
	r = lc_output_save(imgfd, &out);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write '%s'", LC_OUTPUT_FILE);

	if (chkdir && realpath(chkdir, c.chkdir))
		strncat(c.chkdir, "/", sizeof(c.chkdir) - strlen(c.chkdir) - 1);
	n.v = calloc(LC_NEEDS_MAX, sizeof(*n.v));
	if (!n.v)
		return lc_err_set(err, ENOMEM, "host needs");
	snprintf(n.jobid, sizeof(n.jobid), "%s", m->jobid);
	snprintf(n.criu_version, sizeof(n.criu_version), "%s", m->criu_version);
	if (uname(&u) == 0) {
		snprintf(n.host, sizeof(n.host), "%s", u.nodename);
		snprintf(n.kernel, sizeof(n.kernel), "%s", u.release);
	}
	n.ns = j->ns_init > 0;
	lc_cpu_read(&n.cpu);
	for (size_t k = 0; k < j->n_tree; k++) {
		pid_t pid = j->tree[k];
		char path[64], target[4096], comm[32] = "?";
		struct lc_proc p;
		struct stat st;
		ssize_t len;

		if (lc_proc_read(pid, &p) == 0)
			snprintf(comm, sizeof(comm), "%s", p.comm);
		snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			add_need(&c, target, LC_NEED_DIR, -1, "the working directory of", pid,
				 comm);
		}
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0 && stat(path, &st) == 0) {
			target[len] = '\0';
			add_need(&c, target, LC_NEED_FILE, (long long)st.st_size,
				 "the executable of", pid, comm);
		}
		collect_maps(&c, pid, comm);
		collect_fds(&c, pid, comm);
	}
	{
		json_t *o = needs_json(&n);

		free(n.v);
		if (!o)
			return lc_err_set(err, ENOMEM, "host needs");
		r = lc_json_save_flags(imgfd, LC_NEEDS_FILE, o, LC_WRITE_NOSYNC);
		if (r < 0)
			return lc_err_set(err, -r, "cannot write '%s'", LC_NEEDS_FILE);
	}
	log_info("recorded what the image needs from a host: %d path(s), %d CPU feature(s), "
		 "criu %s, kernel %s",
		 n.n, n.cpu.n_flags, n.criu_version, n.kernel);
	return 0;
}

void lc_needs_free(struct lc_needs *n)
{
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

int lc_needs_parse(const char *text, struct lc_needs *n, struct lc_err *err)
{
	json_t *o, *cpu, *flags, *v, *ns;
	size_t i;
	long long x;
	int r = -EINVAL;

	memset(n, 0, sizeof(*n));
	o = lc_json_parse(text, err);
	if (!o)
		return -err->code;
	if (lc_json_check_version(o, NEEDS_VERSION, err) < 0 ||
	    lc_json_str(o, "jobid", n->jobid, sizeof(n->jobid), err) < 0 ||
	    lc_json_str(o, "host", n->host, sizeof(n->host), err) < 0 ||
	    lc_json_str(o, "kernel", n->kernel, sizeof(n->kernel), err) < 0 ||
	    lc_json_str(o, "criu_version", n->criu_version, sizeof(n->criu_version), err) < 0)
		goto out;
	ns = json_object_get(o, "namespaced");
	if (!json_is_boolean(ns)) {
		lc_err_set(err, EINVAL, "field 'namespaced' missing or not a boolean");
		goto out;
	}
	n->ns = json_is_true(ns);
	cpu = json_object_get(o, "cpu");
	if (!json_is_object(cpu) ||
	    lc_json_str(cpu, "arch", n->cpu.arch, sizeof(n->cpu.arch), err) < 0 ||
	    lc_json_int(cpu, "xfeatures", 0, (long long)1 << 62, &x, err) < 0) {
		if (!json_is_object(cpu))
			lc_err_set(err, EINVAL, "field 'cpu' missing or not an object");
		goto out;
	}
	n->cpu.xfeatures = (unsigned long long)x;
	if (lc_json_int(cpu, "xsave_size", 0, 1 << 24, &x, err) < 0)
		goto out;
	n->cpu.xsave_size = (unsigned)x;
	if (lc_json_int(cpu, "xsave_size_max", 0, 1 << 24, &x, err) < 0)
		goto out;
	n->cpu.xsave_size_max = (unsigned)x;
	flags = json_object_get(cpu, "flags");
	if (!json_is_array(flags) || json_array_size(flags) > LC_CPU_MAX_FLAGS) {
		lc_err_set(err, EINVAL, "field 'flags' missing or holds more than %d entries",
			   LC_CPU_MAX_FLAGS);
		goto out;
	}
	json_array_foreach (flags, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(n->cpu.flags[0]) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			lc_err_set(err, EINVAL, "a CPU flag is not a short string");
			goto out;
		}
		snprintf(n->cpu.flags[n->cpu.n_flags++], sizeof(n->cpu.flags[0]), "%s",
			 json_string_value(v));
	}
	v = json_object_get(o, "needs");
	if (!json_is_array(v) || json_array_size(v) > LC_NEEDS_MAX) {
		lc_err_set(err, EINVAL, "field 'needs' missing or holds more than %d entries",
			   LC_NEEDS_MAX);
		goto out;
	}
	n->v = calloc(json_array_size(v) + 1, sizeof(*n->v));
	if (!n->v) {
		lc_err_set(err, ENOMEM, "host needs");
		goto out;
	}
	{
		json_t *e;

		json_array_foreach (v, i, e) {
			struct lc_need *d = &n->v[n->n];
			char type[16];

			if (!json_is_object(e) ||
			    lc_json_str(e, "path", d->path, sizeof(d->path), err) < 0 ||
			    lc_json_str(e, "type", type, sizeof(type), err) < 0 ||
			    lc_json_str(e, "why", d->why, sizeof(d->why), err) < 0 ||
			    lc_json_str(e, "build_id", d->build_id, sizeof(d->build_id), err) < 0 ||
			    lc_json_int(e, "size", -1, (long long)1 << 60, &d->size, err) < 0)
				goto out;
			if (strspn(d->build_id, "0123456789abcdef") != strlen(d->build_id)) {
				lc_err_set(err, EINVAL, "build-id '%s' is not hex", d->build_id);
				goto out;
			}
			if (d->path[0] != '/') {
				lc_err_set(err, EINVAL, "path '%s' is not absolute", d->path);
				goto out;
			}
			if (!strcmp(type, "dir"))
				d->type = LC_NEED_DIR;
			else if (!strcmp(type, "file"))
				d->type = LC_NEED_FILE;
			else if (!strcmp(type, "device"))
				d->type = LC_NEED_DEV;
			else {
				lc_err_set(err, EINVAL, "unknown type '%s'", type);
				goto out;
			}
			n->n++;
		}
	}
	r = 0;
out:
	json_decref(o);
	if (r < 0)
		lc_needs_free(n);
	return r;
}

int lc_needs_load(int imgfd, uid_t owner, struct lc_needs *n, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	int r;

	memset(n, 0, sizeof(*n));
	r = lc_read_file_at(imgfd, LC_NEEDS_FILE, 8 << 20, owner, &txt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "cannot read '%s'", LC_NEEDS_FILE);
	r = lc_needs_parse(txt, n, err);
	if (r < 0)
		return lc_err_wrap(err, "'%s' is unusable", LC_NEEDS_FILE);
	return 0;
}

static bool has_flag(const struct lc_cpu *c, const char *f)
{
	for (int i = 0; i < c->n_flags; i++)
		if (!strcmp(c->flags[i], f))
			return true;
	return false;
}

int lc_needs_check(const struct lc_needs *n, struct lc_err *err)
{
	struct lc_cpu here;
	struct utsname u;
	const char *host = "this host";

	if (uname(&u) == 0)
		host = u.nodename;
	lc_cpu_read(&here);
	if (n->cpu.arch[0] && strcmp(n->cpu.arch, here.arch))
		return lc_err_msg(err, ENOTSUP, "host %s is %s, the image was made on %s", host,
				  here.arch, n->cpu.arch);
	for (int i = 0; i < n->cpu.n_flags; i++)
		if (!has_flag(&here, n->cpu.flags[i]))
			return lc_err_msg(err, ENOTSUP,
					  "the CPU of host %s lacks the feature '%s' "
					  "that the CPU of host %s offered the job",
					  host, n->cpu.flags[i], n->host);
	if (n->cpu.xfeatures & ~here.xfeatures)
		return lc_err_msg(err, ENOTSUP,
				  "the CPU of host %s lacks XSAVE state components "
				  "%#llx that the CPU of host %s offered the job",
				  host, n->cpu.xfeatures & ~here.xfeatures, n->host);
	if (n->cpu.xsave_size && here.xsave_size && n->cpu.xsave_size != here.xsave_size)
		log_warn("the XSAVE area of host %s is %u bytes, %u on host %s; programs that size "
			 "it once may misbehave",
			 host, here.xsave_size, n->cpu.xsave_size, n->host);
	if (n->kernel[0] && strcmp(n->kernel, u.release))
		log_info("host %s runs kernel %s, the image was made under %s", host, u.release,
			 n->kernel);
	for (int i = 0; i < n->n; i++) {
		const struct lc_need *e = &n->v[i];
		struct stat st;
		bool ok;

		if (stat(e->path, &st) < 0) {
			int e2 = errno;

			return lc_err_msg(err, e2 == ENOENT || e2 == ENOTDIR ? ENOENT : e2,
					  "'%s' (%s) %s on host %s", e->path, e->why,
					  e2 == ENOENT || e2 == ENOTDIR ? "is missing"
					  : e2 == EACCES		? "is not accessible"
									: "cannot be checked",
					  host);
		}
		ok = e->type == LC_NEED_DIR    ? S_ISDIR(st.st_mode)
		     : e->type == LC_NEED_FILE ? S_ISREG(st.st_mode)
					       : (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
		if (!ok)
			return lc_err_msg(err, ESTALE, "'%s' (%s) is not a %s on host %s", e->path,
					  e->why, type_names[e->type], host);
		if (e->type == LC_NEED_FILE && e->size >= 0 && st.st_size != e->size)
			return lc_err_msg(err, ESTALE,
					  "'%s' (%s) is %lld bytes on host %s, %lld when "
					  "the job was checkpointed; criu would refuse it",
					  e->path, e->why, (long long)st.st_size, host, e->size);
		if (e->type == LC_NEED_FILE && e->build_id[0]) {
			char id[41];

			path_build_id(e->path, id);
			if (strcmp(id, e->build_id))
				return lc_err_msg(err, ESTALE,
						  "'%s' (%s) on host %s is not the file "
						  "of host %s (build-id %s, not %s); criu would "
						  "refuse it",
						  e->path, e->why, host, n->host,
						  id[0] ? id : "none", e->build_id);
		}
	}
	return 0;
}

static bool pid_live(pid_t pid, char *comm, size_t size)
{
	struct lc_proc p;

	if (lc_proc_read(pid, &p) < 0 || p.state == 'Z')
		return false;
	snprintf(comm, size, "%s", p.comm);
	return true;
}

/*
 * Waits (up to the configured time) until no PID of a host-PID image is held
 * by a live process; a zombie (the killed job, not yet reaped) will be free.
 */
static int pids_free(const struct lc_meta *m, long seconds, struct lc_err *err)
{
	double end = lc_now() + (double)seconds;
	bool logged = false;
	char comm[32];

	for (;;) {
		pid_t taken = 0;

		for (int i = 0; i < m->n_pids && !taken; i++)
			if (pid_live(m->pids[i], comm, sizeof(comm)))
				taken = m->pids[i];
		if (!taken)
			return 0;
		if (lc_now() >= end)
			return lc_err_msg(err, EEXIST,
					  "PID %d, which the image needs, is held by a "
					  "live process (%s) after %ld s",
					  (int)taken, comm, seconds);
		if (!logged) {
			log_info("waiting up to %ld s for PID %d of the image (now %s) to be free",
				 seconds, (int)taken, comm);
			logged = true;
		}
		lc_msleep(200);
	}
}

/* Whether this host lets the job owner create user, PID and mount namespaces. */
static int can_unshare(struct lc_err *err)
{
	struct lc_err cerr = { 0 };
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return lc_err_set(err, errno, "fork");
	if (pid == 0)
		_exit(lc_ns_create(&cerr) < 0 ? 1 : 0);
	st = lc_wait_status(pid);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return lc_err_msg(err, EPERM,
				  "the image was taken in the job's own namespaces, and "
				  "this host does not let the job owner create user namespaces "
				  "(user.max_user_namespaces)");
	return 0;
}

/* criu usable here by the job owner, for a host-PID image ("criu check --unprivileged"). */
static int criu_works(const char *criu, struct lc_err *err)
{
	/* As lsf-criu runs criu: no configuration file and no environment of the user's. */
	char *argv[] = { (char *)criu, "check", "--no-default-config", "--unprivileged", NULL };
	char out[2048];
	int st = 0, r;

	r = lc_run_capture_env(argv, lc_criu_envp(), 60, out, sizeof(out), &st);
	if (r < 0)
		return lc_err_set(err, -r, "'%s check' did not finish", criu);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *nl;

		for (nl = out; *nl; nl++)
			if (*nl == '\n')
				*nl = ' ';
		return lc_err_msg(err, ENOTSUP,
				  "'%s check --no-default-config --unprivileged' "
				  "fails for the job owner: %.300s",
				  criu, lc_trim(out));
	}
	return 0;
}

int lc_preflight(int dirfd, const char *imgset, const struct lc_meta *m, const char *criu,
		 long pid_wait_seconds, uid_t owner, struct lc_err *err)
{
	_cleanup_close_ int imgfd = -1;
	struct lc_needs needs;
	char version[32];
	int r;

	if (lc_criu_check(criu, version, sizeof(version), err) < 0)
		return lc_err_wrap(err, "criu is not usable");
	if (m->criu_version[0] && lc_criu_version_cmp(version, m->criu_version) < 0)
		return lc_err_msg(err, ENOTSUP,
				  "criu here is version %s, older than the criu %s "
				  "that made the image",
				  version, m->criu_version);
	imgfd = openat(dirfd, imgset, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0)
		return lc_err_set(err, errno, "cannot open image set '%s'", imgset);
	r = lc_needs_load(imgfd, owner, &needs, err);
	if (r == -ENOENT) {
		log_info("image set '%s' records no host needs (made by an older lsf-criu); its "
			 "files are checked by criu only",
			 imgset);
	} else if (r < 0) {
		log_warn("%s; its files are checked by criu only", err->msg);
	} else {
		r = lc_needs_check(&needs, err);
		if (r == 0)
			log_info("this host has all %d path(s) and the CPU features the image needs",
				 needs.n);
		lc_needs_free(&needs);
		if (r < 0)
			return r;
	}
	if (m->ns)
		return can_unshare(err);
	r = criu_works(criu, err);
	if (r < 0)
		return r;
	return pids_free(m, pid_wait_seconds, err);
}
