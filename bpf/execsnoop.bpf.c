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

/* What exe_walk() needs, resolved by its caller. */
struct exe_walk {
	__u64 dentry, mount;
	__u64 off_d_parent, off_d_name, off_mnt_root, off_mnt_parent, off_mnt_mountpoint;
};

struct scratch {
	char buf[SCRATCH_SIZE + SCRATCH_PAD];
	__u32 exe_len;
	struct exe_walk walk;
};

/* -x: an exec attempt between syscall entry and exit. */
struct pending {
	__u64 ts_ns;
	const char *filename;
	const char *const *argv;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PENDING_MAX);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* Set by user space: also trace failed attempts (the syscall programs are
 * only attached then). */
const volatile bool trace_fails = false;

/* Set by user space: follow processes from fork to exit (the fork and exit
 * programs are only attached then), emit exit records, and (-p, COMMAND)
 * trace only processes in the table, which user space seeds with the root. */
const volatile bool track = false;
const volatile bool emit_exits = false;
const volatile bool follow_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROCS_MAX); /* 1 unless track */
	__type(key, __u32);
	__type(value, struct proc_info);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The kernel-side filters, shared by successful and failed execs. */
static __always_inline bool wanted(__u32 ppid)
{
	if (follow_only) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (!bpf_map_lookup_elem(&procs, &tgid))
			return false;
	}
	if (targ_ppid && ppid != targ_ppid)
		return false;
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	if (targ_cgroup_id && bpf_get_current_ancestor_cgroup_id(targ_cgroup_level) != targ_cgroup_id)
		return false;
	return true;
}

static __always_inline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
}

/*
 * Complete a reserved record: the header fields the caller computed (`h`),
 * plus what every record takes from the current task, then submit. If the
 * header cannot be written the record is discarded and counted as lost.
 */
static __always_inline void submit(struct bpf_dynptr *dp, const struct exec_event *h, struct task_struct *task,
				   __u32 lost_counter)
{
	struct exec_event *e = bpf_dynptr_data(dp, 0, sizeof(*e));

	if (!e) {
		bpf_ringbuf_discard_dynptr(dp, 0);
		count(lost_counter);
		return;
	}
	e->type = EVENT_EXEC;
	e->flags = h->flags;
	e->ts_ns = h->ts_ns;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = BPF_CORE_READ(task, tgid);
	e->old_pid = h->old_pid;
	e->ppid = h->ppid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->args_size = h->args_size;
	e->args_len = h->args_len;
	e->filename_len = h->filename_len;
	e->interp_len = h->interp_len;
	e->ret = h->ret;
	e->depth = h->depth;
	e->exe_len = h->exe_len;
	e->exe_steps = h->exe_steps;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* The parent process's name: its leader's comm (real_parent may be a
	 * non-leader thread, with a thread name of its own). */
	BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, group_leader, comm);
	bpf_ringbuf_submit_dynptr(dp, 0);
}

/*
 * Following processes (track): fork adds a process to `procs`, exec restarts
 * its clocks, the exit of its last thread reports it and removes it.
 */

/* CPU time of the whole process so far: threads already reaped are summed in
 * signal->sum_sched_runtime; the current thread and the group leader (kept
 * until the group is dead) still hold their own. */
static __always_inline __u64 process_cpu(struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u64 cpu = BPF_CORE_READ(task, signal, sum_sched_runtime) + BPF_CORE_READ(task, se.sum_exec_runtime);

	if (leader && leader != task)
		cpu += BPF_CORE_READ(leader, se.sum_exec_runtime);
	return cpu;
}

static __always_inline void count_full_table(long err)
{
	if (err)
		count(COUNTER_PROC_TABLE);
}

/* The exec of a process: its clocks restart; one not yet followed is added
 * (below its parent when the parent is followed). Returns its depth, or
 * DEPTH_NONE when it is not followed. */
static __always_inline __u32 proc_exec(struct task_struct *task, __u32 ppid, __u64 ts)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct proc_info *p = bpf_map_lookup_elem(&procs, &tgid);
	struct proc_info *parent;
	struct proc_info n = {};

	if (p) {
		p->start_ns = ts;
		p->exec_ns = ts;
		p->cpu_base_ns = process_cpu(task);
		return p->depth;
	}
	if (follow_only)
		return DEPTH_NONE; /* not a descendant of the traced root */
	parent = bpf_map_lookup_elem(&procs, &ppid);
	n.depth = parent ? parent->depth + 1 : 0;
	n.start_ns = ts;
	n.exec_ns = ts;
	n.cpu_base_ns = process_cpu(task);
	count_full_table(bpf_map_update_elem(&procs, &tgid, &n, BPF_ANY));
	return n.depth;
}

static __always_inline __u32 proc_depth(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct proc_info *p;

	if (!track)
		return DEPTH_NONE;
	p = bpf_map_lookup_elem(&procs, &tgid);
	return p ? p->depth : DEPTH_NONE;
}

SEC("raw_tracepoint/sched_process_fork")
int sched_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *parent, struct task_struct *child) */
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid, tgid = BPF_CORE_READ(child, tgid);
	struct proc_info *pp;
	struct proc_info n = {};

	if (BPF_CORE_READ(child, pid) != tgid)
		return 0; /* a new thread, not a new process */
	ptgid = BPF_CORE_READ(parent, tgid);
	pp = bpf_map_lookup_elem(&procs, &ptgid);
	if (follow_only && !pp)
		return 0;
	n.start_ns = bpf_ktime_get_boot_ns();
	n.depth = pp ? pp->depth + 1 : 0;
	/* A new process starts with no CPU time: cpu_base_ns 0. */
	count_full_table(bpf_map_update_elem(&procs, &tgid, &n, BPF_ANY));
	return 0;
}

#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */

SEC("raw_tracepoint/sched_process_exit")
int sched_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *p, ...): p is current. */
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct proc_info *p, info;
	struct exit_event *e;
	unsigned int sflags;

	/* signal->live counts the threads not yet exiting; it reaches 0 before
	 * this tracepoint in the last one. Earlier threads are not the process. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	info = *p;
	bpf_map_delete_elem(&procs, &tgid);
	if (!emit_exits)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_LOST_EXIT);
		return 0;
	}
	e->type = EVENT_EXIT;
	e->flags = 0;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->exec_ts_ns = info.exec_ns;
	e->start_ts_ns = info.start_ns;
	e->cpu_ns = process_cpu(task) - info.cpu_base_ns;
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* As wait(2) reports it: the group's code when the group exited as one. */
	sflags = BPF_CORE_READ(task, signal, flags);
	if (sflags & SIGNAL_GROUP_EXIT)
		e->status = BPF_CORE_READ(task, signal, group_exit_code);
	else
		e->status = BPF_CORE_READ(task, exit_code);
	e->depth = info.depth;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * The file an fd-based exec ran (execveat with a directory fd or
 * AT_EMPTY_PATH, fexecve): the kernel's filename is then "/dev/fd/N...",
 * which does not say what ran. Walk from the file's dentry up to the root,
 * crossing mounts, writing each dentry's name into its own fixed slot. The
 * walk always takes EXE_DEPTH steps and picks the next dentry and mount
 * without branching; once at the top it stays there (a step that changes
 * nothing is not counted). Returns the number of steps that moved;
 * EXE_DEPTH - 1 or more means it may not have reached the top.
 *
 * It is a global (not inlined) function so that the verifier checks it once,
 * apart from the many paths of its caller (inlined, it costs ~20 s of
 * verification). The caller resolves the CO-RE field offsets and the start
 * (aya 0.14 does not apply CO-RE relocations inside such a function), and
 * passes them in the scratch buffer; the walk reads raw kernel memory.
 */
static __always_inline __u64 kread(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

struct exe_slots {
	char name[EXE_DEPTH_POW2][EXE_SLOT];
};

__noinline int exe_walk(struct exe_walk *w, struct exe_slots *slots)
{
	__u64 d, m;
	__u32 steps = 0;
	int i;

	if (!w || !slots)
		return 0;
	d = w->dentry;
	m = w->mount;
#pragma clang loop unroll(disable)
	for (i = 0; i < EXE_DEPTH; i++) {
		__u64 parent = kread(d + w->off_d_parent);
		__u64 root = kread(m + w->off_mnt_root);
		__u64 up = kread(m + w->off_mnt_parent);
		__u64 mountpoint = kread(m + w->off_mnt_mountpoint);
		__u64 at_root, keep, nd, nm;

		bpf_probe_read_kernel_str(slots->name[i & (EXE_DEPTH_POW2 - 1)], EXE_SLOT,
					  (const void *)kread(d + w->off_d_name));
		/* At the mount's root: continue at its mountpoint in the parent
		 * mount; else at the parent dentry. Selected arithmetically. */
		at_root = (__u64)(d == root || d == parent);
		keep = at_root - 1; /* all ones when not at the root */
		nd = (parent & keep) | (mountpoint & ~keep);
		nm = (m & keep) | (up & ~keep);
		steps += (nd != d) | (nm != m);
		d = nd;
		m = nm;
	}
	return steps;
}

static __always_inline __u32 exe_path(struct linux_binprm *bprm, struct scratch *s)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(bprm, file, f_path.mnt);
	__u64 mnt_off = bpf_core_field_offset(struct mount, mnt);

	s->walk.dentry = (__u64)BPF_CORE_READ(bprm, file, f_path.dentry);
	s->walk.mount = (__u64)vfsmnt - mnt_off;
	s->walk.off_d_parent = bpf_core_field_offset(struct dentry, d_parent);
	s->walk.off_d_name = bpf_core_field_offset(struct dentry, d_name) + bpf_core_field_offset(struct qstr, name);
	s->walk.off_mnt_root = mnt_off + bpf_core_field_offset(struct vfsmount, mnt_root);
	s->walk.off_mnt_parent = bpf_core_field_offset(struct mount, mnt_parent);
	s->walk.off_mnt_mountpoint = bpf_core_field_offset(struct mount, mnt_mountpoint);
	return exe_walk(&s->walk, (struct exe_slots *)(s->buf + EXE_OFF));
}

SEC("raw_tracepoint/sched_process_exec")
int sched_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 old_pid = (__u32)ctx->args[1];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	__u32 zero = 0, flags = 0, fn_len = 0, in_len = 0, take = 0, size, i, nfull, rem, base;
	__u32 exe_len = 0, exe_steps = 0;
	unsigned long arg_start = 0, arg_end = 0;
	struct scratch *s;
	struct exec_event *e;
	struct bpf_dynptr dp;
	const char *filename, *interp;
	struct mm_struct *mm;
	__u64 ts = bpf_ktime_get_boot_ns();
	long n;

	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);

	__u32 depth = DEPTH_NONE;

	if (trace_fails) {
		/* The attempt succeeded: forget it. A non-leader thread that
		 * exec'd entered under its own id and now runs as the leader. */
		bpf_map_delete_elem(&pending, &old_pid);
	}
	if (track)
		depth = proc_exec(task, ppid, ts);
	if (!wanted(ppid))
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
	if (fn_len >= 8 && s->buf[0] == '/' && s->buf[1] == 'd' && s->buf[2] == 'e' && s->buf[3] == 'v' &&
	    s->buf[4] == '/' && s->buf[5] == 'f' && s->buf[6] == 'd' && s->buf[7] == '/') {
		exe_steps = exe_path(bprm, s);
		exe_len = EXE_DEPTH * EXE_SLOT;
		if (exe_steps >= EXE_DEPTH - 1)
			flags |= EXEC_F_EXE_TRUNCATED;
	}
	/* Through memory the verifier does not track: the paths with and without
	 * the walk then converge here instead of doubling all that follows. */
	s->exe_len = exe_len;
	barrier_var(exe_len);
	exe_len = s->exe_len & (2 * EXE_DEPTH_POW2 * EXE_SLOT - 1);

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

	size = sizeof(*e) + fn_len + in_len + exe_len + take;
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
	if (exe_len && bpf_dynptr_write(&dp, sizeof(*e) + fn_len + in_len, s->buf + EXE_OFF, EXE_DEPTH * EXE_SLOT, 0))
		flags |= EXEC_F_EXE_TRUNCATED;

	/*
	 * Copy the argument area through the scratch buffer: first the whole
	 * chunks, then the remainder. Every copy has a constant or masked size
	 * and the loop has a single exit test, so the verifier's work grows
	 * linearly with ARGS_MAX_CHUNKS, not with the paths through it.
	 */
	nfull = take / SCRATCH_SIZE;
	base = sizeof(*e) + fn_len + in_len + exe_len;
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

	submit(&dp, &(struct exec_event){
		.flags = flags,
		.ts_ns = ts,
		.old_pid = old_pid,
		.ppid = ppid,
		.args_size = arg_end > arg_start ? (__u32)(arg_end - arg_start) : 0,
		.args_len = take,
		.filename_len = fn_len,
		.interp_len = in_len,
		.depth = depth,
		.exe_len = exe_len,
		.exe_steps = exe_steps,
	}, task, COUNTER_LOST_EXEC);
	return 0;
}


/*
 * -x: failed exec attempts. The entry programs remember where the caller's
 * filename and argv are; the exit programs, when the attempt failed, read
 * them (the caller's memory is unchanged after a failed exec) and emit a
 * record with ret = -errno. Successful attempts are reported by
 * sched_process_exec above and forgotten there.
 */
struct syscall_enter_ctx {
	__u64 __unused;
	long id;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	__u64 __unused;
	long id;
	long ret;
};

static __always_inline int enter(const char *filename, const char *const *argv)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending p = {
		.ts_ns = bpf_ktime_get_boot_ns(),
		.filename = filename,
		.argv = argv,
	};

	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(COUNTER_UNTRACKED);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int sys_enter_execve(struct syscall_enter_ctx *ctx)
{
	return enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int sys_enter_execveat(struct syscall_enter_ctx *ctx)
{
	return enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

static __always_inline int leave(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0, flags = 0, fn_len = 0, off = 0, size, i;
	struct pending *p;
	struct pending att;
	struct scratch *s;
	struct exec_event *e;
	struct bpf_dynptr dp;
	__u32 ppid;
	long n;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	att = *p;
	bpf_map_delete_elem(&pending, &tid);
	if (ret >= 0)
		return 0; /* reported by sched_process_exec */

	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(ppid))
		return 0;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	n = bpf_probe_read_user_str(s->buf, FILENAME_MAX_LEN + 2, att.filename);
	if (n <= 0) {
		flags |= EXEC_F_FILENAME_FAILED;
	} else {
		fn_len = n - 1;
		if (fn_len > FILENAME_MAX_LEN) {
			fn_len = FILENAME_MAX_LEN;
			flags |= EXEC_F_FILENAME_TRUNCATED;
		}
	}

	/* argv strings, NUL-separated like an argument area. */
	if (!att.argv)
		goto args_done;
#pragma clang loop unroll(disable)
	for (i = 0; i < FAIL_MAX_ARGS; i++) {
		const char *arg = NULL;

		if (bpf_probe_read_user(&arg, sizeof(arg), &att.argv[i])) {
			flags |= EXEC_F_ARGS_READ_FAILED;
			goto args_done;
		}
		if (!arg)
			goto args_done;
		if (off >= FAIL_ARGS_ROOM) {
			flags |= EXEC_F_ARGS_TRUNCATED;
			goto args_done;
		}
		n = bpf_probe_read_user_str(s->buf + FAIL_ARGS_OFF + (off & (FAIL_ARGS_ROOM - 1)), FAIL_ARG_MAX, arg);
		if (n <= 0) {
			flags |= EXEC_F_ARGS_READ_FAILED;
			goto args_done;
		}
		if (n == FAIL_ARG_MAX)
			flags |= EXEC_F_ARGS_TRUNCATED; /* this argument may be longer */
		off += n;
	}
	flags |= EXEC_F_ARGS_TRUNCATED; /* more than FAIL_MAX_ARGS arguments */
args_done:
	if (off > FAIL_ARGS_ROOM) {
		off = FAIL_ARGS_ROOM;
		flags |= EXEC_F_ARGS_TRUNCATED;
	}

	size = sizeof(*e) + fn_len + off;
	if (bpf_ringbuf_reserve_dynptr(&events, size, 0, &dp)) {
		bpf_ringbuf_discard_dynptr(&dp, 0);
		count(COUNTER_LOST_FAIL);
		return 0;
	}
	if (fn_len && bpf_dynptr_write(&dp, sizeof(*e), s->buf, fn_len & (2 * FILENAME_MAX_LEN - 1), 0))
		flags |= EXEC_F_FILENAME_FAILED;
	if (off) {
		__u32 len = off;

		/* off <= FAIL_ARGS_ROOM here, but the verifier must see a bound on
		 * the very register passed: force the mask to be emitted. */
		asm volatile("%[len] &= %[mask]" : [len] "+r"(len) : [mask] "i"(2 * FAIL_ARGS_ROOM - 1));
		if (bpf_dynptr_write(&dp, sizeof(*e) + fn_len, s->buf + FAIL_ARGS_OFF, len, 0))
			flags |= EXEC_F_ARGS_READ_FAILED;
	}

	submit(&dp, &(struct exec_event){
		.flags = flags,
		.ts_ns = att.ts_ns,
		.old_pid = tid,
		.ppid = ppid,
		.args_size = off, /* the caller's argv is not one area: what was read */
		.args_len = off,
		.filename_len = fn_len,
		.ret = (__s32)ret,
		.depth = proc_depth(task),
	}, task, COUNTER_LOST_FAIL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int sys_exit_execve(struct syscall_exit_ctx *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int sys_exit_execveat(struct syscall_exit_ctx *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
