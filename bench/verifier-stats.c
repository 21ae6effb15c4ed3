// SPDX-License-Identifier: GPL-2.0
/*
 * verifier-stats.c: what the kernel's BPF verifier says about each program
 * execsnoop loads, on any kernel, without changing execsnoop.
 *
 * An LD_PRELOAD shim: it wraps libc's syscall(), through which aya makes
 * every bpf() call. For BPF_PROG_LOAD without a log buffer it adds one with
 * log level BPF_LOG_STATS (the verifier then writes only its closing
 * statistics, which costs nothing measurable), times the call, and prints one
 * line per program to stderr:
 *
 *   verifier: sched_process_exec: processed 437 insns, verification 187 us, load 612 us, rc 0
 *
 * "processed" and "verification" are the verifier's own figures (its
 * `processed N insns` and `verification time N usec` lines); "load" is the
 * wall time of the whole BPF_PROG_LOAD call (verification, JIT, setup).
 *
 * Build and use (tests/vm/verifier-stats does both):
 *   cc -O2 -shared -fPIC -o verifier-stats.so bench/verifier-stats.c -ldl
 *   LD_PRELOAD=./verifier-stats.so execsnoop -x -e -d 0.1
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#define BPF_PROG_LOAD 5
#define BPF_LOG_STATS 4

/* The leading fields of union bpf_attr for BPF_PROG_LOAD (stable ABI). */
struct prog_load_attr {
	uint32_t prog_type;
	uint32_t insn_cnt;
	uint64_t insns;
	uint64_t license;
	uint32_t log_level;
	uint32_t log_size;
	uint64_t log_buf;
	uint32_t kern_version;
	uint32_t prog_flags;
	char prog_name[16];
};

static char log_buf[64 * 1024];

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* The number after `key` in the log, or -1. */
static long after(const char *log, const char *key)
{
	const char *p = strstr(log, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

long syscall(long number, ...)
{
	static long (*real)(long, ...);
	long a[6], rc, t0;
	struct prog_load_attr *attr;
	int added = 0;
	va_list ap;
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	if (number != SYS_bpf || a[0] != BPF_PROG_LOAD)
		return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);

	attr = (struct prog_load_attr *)a[1];
	if (!attr->log_buf || !attr->log_size) {
		log_buf[0] = 0;
		attr->log_level = BPF_LOG_STATS;
		attr->log_buf = (uint64_t)(uintptr_t)log_buf;
		attr->log_size = sizeof(log_buf);
		added = 1;
	}
	t0 = now_us();
	rc = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	t0 = now_us() - t0;
	fprintf(stderr, "verifier: %.16s: processed %ld insns, verification %ld us, load %ld us, rc %ld\n",
		attr->prog_name, after((const char *)(uintptr_t)attr->log_buf, "processed "),
		after((const char *)(uintptr_t)attr->log_buf, "verification time "), t0, rc);
	if (added) {
		/* Leave the caller's attributes as it made them. */
		attr->log_level = 0;
		attr->log_buf = 0;
		attr->log_size = 0;
	}
	return rc;
}
