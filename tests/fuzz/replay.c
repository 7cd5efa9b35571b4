/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The main() of a fuzz target built without libFuzzer (gcc with ASan and
 * UBSan, "make fuzz-replay"): runs LLVMFuzzerTestOneInput once on every file
 * named on the command line and on every file in the directories named there
 * (not recursively; names starting with '.' are skipped, so a directory may
 * hold a .keep file).
 *
 *   fuzz_<name> [-k known-bugs.txt] file-or-directory...
 *
 * An input listed in the known-bugs file (one path per line, relative to
 * tests/fuzz, '#' starts a comment) is a crash in the library that is not
 * fixed yet. It runs in a child process, so it may still crash without ending
 * the replay; one that no longer crashes is reported so that its line can go.
 * Any other input runs in this process: a sanitizer report or a failed
 * property ends the replay with a non-zero status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FUZZ_REPLAY
#include "fuzz.h"

#define REPLAY_MAX_INPUT (1 << 20)

static char **known;
static size_t n_known;
static unsigned long n_run, n_known_run;
static const char *current;

/* In the sanitizer runtimes; absent from a build without them. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Names the input that crashed: neither a sanitizer report nor abort() does. */
static void say_current(void)
{
	if (current) {
		(void)!write(STDERR_FILENO, "replay: crashed on ", 19);
		(void)!write(STDERR_FILENO, current, strlen(current));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
}

static void on_abort(int sig)
{
	say_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void load_known(const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		s[strcspn(s, "#\n")] = '\0';
		s += strspn(s, " \t");
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		if (!*s)
			continue;
		known = realloc(known, (n_known + 1) * sizeof(*known));
		if (!known || !(known[n_known] = strdup(s)))
			abort();
		n_known++;
	}
	fclose(f);
}

/* True if path is, or ends with "/" and, an entry of the known-bugs list. */
static bool is_known(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < n_known; i++) {
		size_t k = strlen(known[i]);

		if (!strcmp(path, known[i]) ||
		    (n > k && path[n - k - 1] == '/' && !strcmp(path + n - k, known[i])))
			return true;
	}
	return false;
}

/* Reads all of path into a heap buffer of exactly its size (ASan sees overreads). */
static int read_input(const char *path, uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;
	struct stat st;
	size_t len = 0;
	ssize_t k;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > REPLAY_MAX_INPUT) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		abort();
	while (len < (size_t)st.st_size && (k = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)k;
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Runs a known crash in a child; the replay goes on whatever it does. */
static void run_known(const char *path, const uint8_t *data, size_t len)
{
	int status, null;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "replay: fork: %s\n", strerror(errno));
		exit(2);
	}
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		LLVMFuzzerTestOneInput(data, len);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			abort();
	n_known_run++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		printf("replay: %s: listed as a known bug but passes now; remove it from "
		       "known-bugs.txt\n",
		       path);
	else
		printf("replay: %s: known bug, still fails (%s %d)\n", path,
		       WIFSIGNALED(status) ? "signal" : "status",
		       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static int run_file(const char *path)
{
	uint8_t *data;
	size_t len;
	int r;

	r = read_input(path, &data, &len);
	if (r < 0) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(-r));
		return -1;
	}
	if (is_known(path)) {
		run_known(path, data, len);
	} else {
		current = path;
		LLVMFuzzerTestOneInput(data, len);
		current = NULL;
		n_run++;
	}
	free(data);
	return 0;
}

static int run_dir(const char *dir)
{
	struct dirent **names;
	int n, bad = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (run_file(path) < 0)
				bad = -1;
		}
		free(names[i]);
	}
	free(names);
	return bad;
}

int main(int argc, char **argv)
{
	struct stat st;
	int opt, bad = 0;

	/* Lines already printed must survive a crash that ends the process. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "k:")) != -1) {
		if (opt != 'k') {
			fprintf(stderr, "usage: %s [-k known-bugs.txt] file-or-directory...\n",
				argv[0]);
			return 2;
		}
		load_known(optarg);
	}
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(say_current);
	signal(SIGABRT, on_abort);
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = optind; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			bad |= run_dir(argv[i]);
		else
			bad |= run_file(argv[i]);
	}
	printf("replay: %s: %lu inputs passed, %lu known bugs run apart\n", argv[0], n_run,
	       n_known_run);
	for (size_t i = 0; i < n_known; i++)
		free(known[i]);
	free(known);
	return bad ? 1 : 0;
}
