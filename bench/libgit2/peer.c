/*
 * The libgit2 peer of the bench (bench/libgit2.ts): times git_odb_exists or git_odb_read over the
 * ids of a file, strict hash checking off, and prints one JSON line. Built by the bench when `cc`
 * and libgit2's headers are present; never part of the package.
 *
 *   peer <git-dir> <ids-file> <exists|read> <passes>
 */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: peer <git-dir> <ids-file> <exists|read> <passes>\n");
		return 2;
	}
	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	git_repository *repo = NULL;
	if (git_repository_open_bare(&repo, argv[1]) != 0 && git_repository_open(&repo, argv[1]) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", argv[1], git_error_last()->message);
		return 1;
	}
	git_odb *odb = NULL;
	if (git_repository_odb(&odb, repo) != 0) return 1;
	FILE *f = fopen(argv[2], "r");
	if (!f) return 1;
	size_t cap = 1024, n = 0;
	git_oid *ids = malloc(cap * sizeof(git_oid));
	char line[256];
	while (fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\r\n");
		line[len] = 0;
		if (len == 0) continue;
		if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof(git_oid));
		if (git_oid_fromstr(&ids[n], line) == 0) n++;
	}
	fclose(f);
	int read = strcmp(argv[3], "read") == 0;
	int passes = atoi(argv[4]);
	long found = 0;
	double best = 0;
	for (int p = 0; p <= passes; p++) {
		double t0 = now_ms();
		found = 0;
		for (size_t i = 0; i < n; i++) {
			if (read) {
				git_odb_object *o = NULL;
				if (git_odb_read(&o, odb, &ids[i]) == 0) {
					found++;
					git_odb_object_free(o);
				}
			} else if (git_odb_exists(odb, &ids[i])) {
				found++;
			}
		}
		double ms = now_ms() - t0;
		double rate = n / (ms / 1e3);
		/* pass 0 warms the caches, as the Node side does */
		if (p > 0 && rate > best) best = rate;
	}
	/*
	 * Peak resident memory in KiB, for the memory each side spends on its caches: VmHWM of this
	 * process's own memory (getrusage's ru_maxrss would include the parent's at fork time).
	 */
	long hwm = -1;
	FILE *st = fopen("/proc/self/status", "r");
	if (st) {
		while (fgets(line, sizeof line, st))
			if (strncmp(line, "VmHWM:", 6) == 0) hwm = atol(line + 6);
		fclose(st);
	}
	printf("{\"ids\":%zu,\"found\":%ld,\"rate\":%.0f,\"maxRssKiB\":%ld}\n", n, found, best, hwm);
	git_odb_free(odb);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return 0;
}
