// SPDX-License-Identifier: GPL-2.0
/*
 * execsnoop.bpf.c: the kernel half of execsnoop.
 *
 * One program on the sched_process_exec tracepoint (raw form: no tracefs, no
 * syscall tracepoints). It runs after the exec has succeeded, in the new
 * process, so the argument area mm->arg_start..arg_end is the new argv, already
 * in memory: rows are never empty and never cut silently.
 *
 * Each exec becomes one variable-length record in one ring buffer (time order
 * across CPUs). A record that cannot be reserved is counted in a per-CPU
 * counter that user space reads and reports: nothing is lost silently.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "execsnoop.h"

/* Where the interpreter path is staged in the scratch buffer (after room for
 * the filename). */
#define INTERP_OFF (FILENAME_MAX_LEN + 8)

/* Set by user space before load (EbpfLoader::set_global). */
const volatile __u32 args_cap = ARGS_CAP_DEFAULT;
const volatile __u32 targ_ppid = 0;        /* 0: any parent */
const volatile __u32 targ_uid = (__u32)-1;  /* (u32)-1: any user */
const volatile __u64 targ_cgroup_id = 0;    /* 0: any cgroup; else this one and below */
const volatile __u32 targ_cgroup_level = 0; /* level of targ_cgroup_id in the hierarchy */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct scratch {
	char buf[SCRATCH_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
}

SEC("raw_tracepoint/sched_process_exec")
int sched_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 old_pid = (__u32)ctx->args[1];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	__u32 zero = 0, flags = 0, fn_len = 0, in_len = 0, take = 0, size, i, nfull, rem, base;
	unsigned long arg_start = 0, arg_end = 0;
	struct scratch *s;
	struct exec_event *e;
	struct bpf_dynptr dp;
	const char *filename, *interp;
	struct mm_struct *mm;
	__u64 ts = bpf_ktime_get_boot_ns();
	long n;

	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);

	if (targ_ppid && ppid != targ_ppid)
		return 0;
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	if (targ_cgroup_id && bpf_get_current_ancestor_cgroup_id(targ_cgroup_level) != targ_cgroup_id)
		return 0;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	/* The filename as the kernel was given it, staged in the scratch buffer. */
	filename = BPF_CORE_READ(bprm, filename);
	/* Two bytes over the limit: n == FILENAME_MAX_LEN + 2 means the string
	 * had more than FILENAME_MAX_LEN bytes, so it is cut and marked. */
	n = bpf_probe_read_kernel_str(s->buf, FILENAME_MAX_LEN + 2, filename);
	if (n <= 0) {
		flags |= EXEC_F_FILENAME_FAILED;
	} else {
		fn_len = n - 1;
		if (fn_len > FILENAME_MAX_LEN) {
			fn_len = FILENAME_MAX_LEN;
			flags |= EXEC_F_FILENAME_TRUNCATED;
		}
	}

	/*
	 * For #! scripts and binfmt_misc the kernel's bprm->interp is the
	 * interpreter; otherwise it is the same pointer as bprm->filename. It is
	 * staged after the filename in the scratch buffer.
	 */
	interp = BPF_CORE_READ(bprm, interp);
	if (interp && interp != filename) {
		n = bpf_probe_read_kernel_str(s->buf + INTERP_OFF, FILENAME_MAX_LEN + 2, interp);
		if (n > 0) {
			in_len = n - 1;
			if (in_len > FILENAME_MAX_LEN) {
				in_len = FILENAME_MAX_LEN;
				flags |= EXEC_F_INTERP_TRUNCATED;
			}
		}
	}
	if (BPF_CORE_READ(bprm, file, f_inode, i_nlink) == 0)
		flags |= EXEC_F_FILELESS;

	mm = BPF_CORE_READ(task, mm);
	if (mm) {
		arg_start = BPF_CORE_READ(mm, arg_start);
		arg_end = BPF_CORE_READ(mm, arg_end);
	} else {
		flags |= EXEC_F_NO_MM;
	}
	if (arg_end > arg_start) {
		unsigned long total = arg_end - arg_start;

		take = total > args_cap ? args_cap : total;
		if (take > ARGS_CAP_MAX)
			take = ARGS_CAP_MAX;
		if (take < total)
			flags |= EXEC_F_ARGS_TRUNCATED;
	}

	size = sizeof(*e) + fn_len + in_len + take;
	if (bpf_ringbuf_reserve_dynptr(&events, size, 0, &dp)) {
		bpf_ringbuf_discard_dynptr(&dp, 0);
		count(COUNTER_LOST_EXEC);
		return 0;
	}

	if (fn_len && bpf_dynptr_write(&dp, sizeof(*e), s->buf, fn_len & (2 * FILENAME_MAX_LEN - 1), 0))
		flags |= EXEC_F_FILENAME_FAILED;
	if (in_len && bpf_dynptr_write(&dp, sizeof(*e) + fn_len, s->buf + INTERP_OFF,
				       in_len & (2 * FILENAME_MAX_LEN - 1), 0))
		in_len = 0;

	/*
	 * Copy the argument area through the scratch buffer: first the whole
	 * chunks, then the remainder. Every copy has a constant or masked size
	 * and the loop has a single exit test, so the verifier's work grows
	 * linearly with ARGS_MAX_CHUNKS, not with the paths through it.
	 */
	nfull = take / SCRATCH_SIZE;
	base = sizeof(*e) + fn_len + in_len;
#pragma clang loop unroll(disable)
	for (i = 0; i < ARGS_MAX_CHUNKS; i++) {
		if (i >= nfull)
			break;
		if (bpf_probe_read_user(s->buf, SCRATCH_SIZE, (const void *)(arg_start + (__u64)i * SCRATCH_SIZE)) ||
		    bpf_dynptr_write(&dp, base + i * SCRATCH_SIZE, s->buf, SCRATCH_SIZE, 0)) {
			flags |= EXEC_F_ARGS_READ_FAILED;
			break;
		}
	}
	rem = take & (SCRATCH_SIZE - 1);
	if (rem && !(flags & EXEC_F_ARGS_READ_FAILED)) {
		__u64 off = (__u64)nfull * SCRATCH_SIZE;

		if (bpf_probe_read_user(s->buf, rem, (const void *)(arg_start + off)) ||
		    bpf_dynptr_write(&dp, base + off, s->buf, rem, 0))
			flags |= EXEC_F_ARGS_READ_FAILED;
	}

	e = bpf_dynptr_data(&dp, 0, sizeof(*e));
	if (!e) {
		bpf_ringbuf_discard_dynptr(&dp, 0);
		count(COUNTER_LOST_EXEC);
		return 0;
	}
	e->type = EVENT_EXEC;
	e->flags = flags;
	e->ts_ns = ts;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = BPF_CORE_READ(task, tgid);
	e->old_pid = old_pid;
	e->ppid = ppid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->args_size = arg_end > arg_start ? (__u32)(arg_end - arg_start) : 0;
	e->args_len = take;
	e->filename_len = fn_len;
	e->interp_len = in_len;
	e->ret = 0;
	e->_pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, comm);

	bpf_ringbuf_submit_dynptr(&dp, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
