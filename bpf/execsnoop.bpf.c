// SPDX-License-Identifier: GPL-2.0
/*
 * execsnoop.bpf.c: the kernel half of execsnoop.
 *
 * One program on the sched_process_exec tracepoint (raw form: no tracefs, no
 * syscall tracepoints). It runs after the exec has succeeded, in the new
 * process, so the argument area mm->arg_start..arg_end is the new argv, already
 * in memory: rows are never empty and never cut silently.
 *
 * Each exec becomes a short run of ring-buffer records (see execsnoop.h):
 * pieces for the interpreter, the file behind a descriptor and the argument
 * area, then the exec record itself. A single ring buffer keeps records in
 * time order across CPUs. A record that cannot be written is counted in a
 * per-CPU counter (or marked on the exec record) that user space reads and
 * reports: nothing is lost silently.
 *
 * One object for every kernel from 5.8 on (Debian's 5.10, 6.1, 6.12 and
 * newer), so it uses only what 5.10 has: ring buffers with bpf_ringbuf_output
 * (5.8), bounded loops (5.3), tail calls, no dynptrs (5.19), no bpf_loop
 * (5.17) and no BPF-to-BPF calls (global functions with pointer arguments are
 * newer still). What varies in length is split so that every program the
 * verifier checks is small and fixed: the walk of the file behind a
 * descriptor and the copy of the argument area are stages of their own,
 * reached by tail calls, and the argument stage tail-calls itself for long
 * areas instead of looping over the whole 6 MiB cap.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "execsnoop.h"

/* Set by user space before load (EbpfLoader::override_global). */
const volatile __u32 args_cap = ARGS_CAP_DEFAULT;
const volatile __u32 targ_ppid = 0;        /* 0: any parent */
const volatile __u32 targ_uid = (__u32)-1;  /* (u32)-1: any user */
const volatile bool targ_cgroup = false;    /* only the cgroup in cgroup_filter, and below */
const volatile __u32 targ_host = 0;         /* 1: only the host's pid namespace (--host); 2: only others */
const volatile __u32 host_pidns = 0;        /* inode number of the host's pid namespace */

/* Set by user space: what else to read at the exec (each off by default,
 * so that its code is dead to the verifier and costs nothing). */
const volatile bool want_ctx = false;       /* credentials, namespaces, ids: PIECE_CTX */
const volatile bool want_cwd = false;       /* the working directory: PIECE_CWD */
const volatile bool want_env = false;       /* the environment block: PIECE_ENV */
const volatile __u32 env_cap = ARGS_CAP_DEFAULT;

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
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* -c: the cgroup v2 directory whose processes (and its descendants') are
 * traced, by fd, set by user space before the programs are attached.
 * bpf_current_task_under_cgroup() answers on every kernel (4.9+); the
 * ancestor-id helper is not available to tracing programs before 6.x. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} cgroup_filter SEC(".maps");

/* The tail-called stages of the exec program, filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, STAGES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} stages SEC(".maps");

/*
 * Per-CPU staging: the exec record being built (its header directly followed
 * by the filename, so that both go out in one bpf_ringbuf_output), where the
 * argument copy stands, and one piece being written. Under 32 KiB, the
 * kernel's limit for a per-CPU value. A program run (with its tail calls)
 * cannot be interrupted by another of ours on the same CPU.
 */
struct scratch {
	struct exec_event hdr;
	char filename[FILENAME_MAX_LEN + 8];
	__u64 arg_start; /* user address of the argument area (failed exec: of argv) */
	__u32 take;      /* argument bytes to copy (failed exec: next argv index) */
	__u32 done;      /* argument bytes copied (failed exec: gathered) */
	__u64 env_start; /* user address of the environment block (want_env) */
	__u32 env_take;  /* its bytes to copy */
	__u32 phase;     /* what the argument stage copies now: PIECE_ARGS, then PIECE_ENV */
	__u32 walk;      /* what the walk stage walks now: PIECE_EXE or PIECE_CWD */
	__u32 _pad;
	struct piece pc;
	char data[PIECE_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROCS_MAX); /* 1 unless track */
	__type(key, __u32);
	__type(value, struct proc_info);
} procs SEC(".maps");

/*
 * min(v, max), written so that every verifier from 5.8 on sees the bound: the
 * compare and the use are the same register, which the compiler could
 * otherwise copy, widen or reorder away from the check.
 */
static __always_inline __u64 bound(__u64 v, const __u64 max)
{
	asm volatile("if %[v] <= %[max] goto +1\n\t"
		     "%[v] = %[max]"
		     : [v] "+r"(v)
		     : [max] "i"(max));
	return v;
}

/* v & mask, emitted as written on the very register that is then used (the
 * compiler may otherwise fold the mask into arithmetic the verifier cannot
 * bound). */
static __always_inline __u64 masked(__u64 v, const __u64 mask)
{
	asm volatile("%[v] &= %[mask]" : [v] "+r"(v) : [mask] "i"(mask));
	return v;
}

/*
 * Two adjacent 8-byte fields `a` and `b` of *p in one bpf_probe_read_kernel
 * when this kernel lays them out one after the other (their CO-RE offsets
 * are constants once loaded: the verifier drops the other branch), else in
 * two. Each read is a helper call and a fault-safe copy, the largest part of
 * what the exec program costs; fields read together cost one.
 */
#define READ_PAIR(p, a, b, va, vb)                                                             \
	do {                                                                                   \
		if (bpf_core_field_offset((p)->b) == bpf_core_field_offset((p)->a) + 8 &&       \
		    bpf_core_field_size((p)->a) == 8 && bpf_core_field_size((p)->b) == 8) {     \
			__u64 pair_[2] = {};                                                   \
                                                                                               \
			bpf_core_read(pair_, sizeof(pair_), &(p)->a);                          \
			va = (typeof(va))pair_[0];                                             \
			vb = (typeof(vb))pair_[1];                                             \
		} else {                                                                       \
			va = (typeof(va))BPF_CORE_READ(p, a);                                  \
			vb = (typeof(vb))BPF_CORE_READ(p, b);                                  \
		}                                                                              \
	} while (0)

/* The task's pid as its own pid namespace sees it, and that namespace. */
static __always_inline struct upid task_upid(struct task_struct *t)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid u = {};

	bpf_core_read(&u, sizeof(u), &p->numbers[level & 31]);
	return u;
}

static __always_inline __u32 pidns_of(struct task_struct *t)
{
	struct upid u = task_upid(t);

	return BPF_CORE_READ(u.ns, ns.inum);
}

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
	if (targ_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		return false;
	if (targ_host) {
		bool host = pidns_of((struct task_struct *)bpf_get_current_task()) == host_pidns;

		if (host != (targ_host == 1))
			return false;
	}
	return true;
}

static __always_inline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * Start a run: the header fields every exec record takes from the current
 * task. The caller adds what is particular to it.
 */
static __always_inline void begin(struct scratch *s, struct task_struct *parent, __u64 ts, __u32 old_pid, __u32 ppid)
{
	s->hdr.type = EVENT_EXEC;
	s->hdr.flags = 0;
	s->hdr.ts_ns = ts;
	s->hdr.cgroup_id = bpf_get_current_cgroup_id();
	s->hdr.pid = bpf_get_current_pid_tgid() >> 32;
	s->hdr.old_pid = old_pid;
	s->hdr.ppid = ppid;
	s->hdr.uid = (__u32)bpf_get_current_uid_gid();
	s->hdr.args_size = 0;
	s->hdr.args_len = 0;
	s->hdr.filename_len = 0;
	s->hdr.interp_len = 0;
	s->hdr.ret = 0;
	s->hdr.depth = DEPTH_NONE;
	s->hdr.exe_len = 0;
	s->hdr.exe_steps = 0;
	s->hdr.cpu = bpf_get_smp_processor_id();
	s->hdr.pieces = 0;
	bpf_get_current_comm(s->hdr.comm, sizeof(s->hdr.comm));
	/* The parent process's name: its leader's comm (real_parent may be a
	 * non-leader thread, with a thread name of its own). A plain read: the
	 * kernel keeps comm NUL-terminated, and user space stops at the NUL. */
	struct task_struct *pleader = BPF_CORE_READ(parent, group_leader);

	bpf_core_read(&s->hdr.pcomm, sizeof(s->hdr.pcomm), &pleader->comm);
	s->take = 0;
	s->done = 0;
	s->env_take = 0;
	s->phase = PIECE_ARGS;
	s->hdr.env_size = 0;
	s->hdr.env_len = 0;
	s->hdr.cwd_len = 0;
	s->hdr.cwd_steps = 0;
}

/* The length of a string that bpf_probe_read_*_str() returned `n` for, read
 * with room for FILENAME_MAX_LEN + 2 bytes: cut at FILENAME_MAX_LEN and marked
 * with `cut` when longer; 0 and marked with `failed` when it failed. */
static __always_inline __u32 str_len(struct scratch *s, long n, __u32 cut, __u32 failed)
{
	if (n <= 0) {
		s->hdr.flags |= failed;
		return 0;
	}
	if (n - 1 > FILENAME_MAX_LEN) {
		s->hdr.flags |= cut;
		return FILENAME_MAX_LEN;
	}
	return n - 1;
}

/* Write s->data[0..len) as a piece of `kind`; the caller has bounded `len`
 * to PIECE_DATA (a constant, or a mask: one path for the verifier). Returns 0
 * when written; on a full ring buffer marks the run and returns -1: the caller
 * writes no more pieces, and the exec record says what is missing. */
static __always_inline int emit_piece(struct scratch *s, __u32 kind, __u64 len)
{
	if (s->hdr.flags & EXEC_F_PIECE_LOST)
		return -1;
	s->pc.type = EVENT_PIECE;
	s->pc.kind = kind;
	s->pc.ts_ns = s->hdr.ts_ns;
	s->pc.cpu = s->hdr.cpu;
	s->pc.len = len;
	if (bpf_ringbuf_output(&events, &s->pc, sizeof(s->pc) + len, 0)) {
		s->hdr.flags |= EXEC_F_PIECE_LOST;
		return -1;
	}
	s->hdr.pieces += 1;
	return 0;
}

/* Close the run: the exec record, with the filename after its header. */
static __always_inline void finish(struct scratch *s, __u32 lost_counter)
{
	__u64 len = bound(s->hdr.filename_len, FILENAME_MAX_LEN);

	if (bpf_ringbuf_output(&events, &s->hdr, sizeof(s->hdr) + len, 0))
		count(lost_counter);
}

/*
 * Who ran what, where (want_ctx): the new process's credentials, audit
 * login and session, controlling terminal, namespaces, the pid its own pid
 * namespace sees, and what names this exec (its task's start time and exec
 * count), as one PIECE_CTX. Whether the exec raised privileges is read off
 * the new credentials: an effective uid or gid other than the real one (a
 * set-user-ID or set-group-ID file), or effective capabilities for a
 * non-root user (file capabilities).
 */
static __always_inline void emit_context(struct scratch *s, struct task_struct *task)
{
	struct exec_context *c = (struct exec_context *)s->data;
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	struct upid u = task_upid(task);
	__u32 uid = BPF_CORE_READ(cred, uid.val);
	__u32 privilege = 0;

	c->euid = BPF_CORE_READ(cred, euid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->loginuid = (__u32)-1;
	c->sessionid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid)) {
		c->loginuid = BPF_CORE_READ(task, loginuid.val);
		c->sessionid = BPF_CORE_READ(task, sessionid);
	}
	c->nspid = u.nr;
	c->start_boottime = BPF_CORE_READ(task, start_boottime);
	c->self_exec_id = BPF_CORE_READ(task, self_exec_id);
	c->parent_start_boottime = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	c->cap_effective = 0;
	bpf_core_read(&c->cap_effective, sizeof(c->cap_effective), &cred->cap_effective);
	if (c->euid != uid)
		privilege |= PRIV_SETUID;
	if (c->egid != c->gid)
		privilege |= PRIV_SETGID;
	if (uid != 0 && c->euid != 0 && c->cap_effective)
		privilege |= PRIV_CAPS; /* not root by any uid, yet capable: file capabilities */
	c->privilege = privilege;
	c->ns[NS_PID] = BPF_CORE_READ(u.ns, ns.inum);
	c->ns[NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	c->ns[NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	c->ns[NS_USER] = BPF_CORE_READ(cred, user_ns, ns.inum);
	c->ns[NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	c->ns[NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	c->ns[NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	c->tty[0] = 0;
	if (tty)
		bpf_probe_read_kernel_str(c->tty, sizeof(c->tty), &tty->name);
	emit_piece(s, PIECE_CTX, sizeof(*c));
}

/*
 * Following processes (track): fork adds a process to `procs`, exec restarts
 * its clocks, the exit of its last thread reports it and removes it.
 */

/* CPU time of the whole process so far: threads already reaped are summed in
 * signal->sum_sched_runtime; the current thread and the group leader (kept
 * until the group is dead) still hold their own. */
static __always_inline __u64 process_cpu(struct task_struct *task, struct signal_struct *sig)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u64 cpu = BPF_CORE_READ(sig, sum_sched_runtime) + BPF_CORE_READ(task, se.sum_exec_runtime);

	if (leader && leader != task)
		cpu += BPF_CORE_READ(leader, se.sum_exec_runtime);
	return cpu;
}

static __always_inline void count_full_table(long err)
{
	if (err)
		count(COUNTER_PROC_TABLE);
}

/* The exec of a process: its clocks restart, and whether its exit will be
 * reported is decided again (`visible`: it passed the kernel filters); one
 * not yet followed is added (below its parent when the parent is followed).
 * Returns its depth, or DEPTH_NONE when it is not followed. */
static __always_inline __u32 proc_exec(struct task_struct *task, __u32 ppid, __u64 ts, bool visible)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32; /* task is current */
	struct proc_info *p = bpf_map_lookup_elem(&procs, &tgid);
	struct proc_info *parent;
	struct proc_info n = {};

	if (p) {
		p->start_ns = ts;
		p->exec_ns = ts;
		p->cpu_base_ns = process_cpu(task, BPF_CORE_READ(task, signal));
		p->visible = visible;
		return p->depth;
	}
	if (follow_only)
		return DEPTH_NONE; /* not a descendant of the traced root */
	parent = bpf_map_lookup_elem(&procs, &ppid);
	n.depth = parent ? parent->depth + 1 : 0;
	n.start_ns = ts;
	n.exec_ns = ts;
	n.cpu_base_ns = process_cpu(task, BPF_CORE_READ(task, signal));
	n.visible = visible;
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
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	/* The parent is the current task. */
	__u32 ptgid = bpf_get_current_pid_tgid() >> 32, pid, tgid;
	struct proc_info *pp;
	struct proc_info n = {};

	/* pid and tgid in one read where they are adjacent (CO-RE: the
	 * verifier drops the other branch). */
	if (bpf_core_field_offset(child->tgid) == bpf_core_field_offset(child->pid) + 4) {
		__u32 ids[2] = {};

		bpf_core_read(ids, sizeof(ids), &child->pid);
		pid = ids[0];
		tgid = ids[1];
	} else {
		pid = BPF_CORE_READ(child, pid);
		tgid = BPF_CORE_READ(child, tgid);
	}
	if (pid != tgid)
		return 0; /* a new thread, not a new process */
	pp = bpf_map_lookup_elem(&procs, &ptgid);
	if (follow_only && !pp)
		return 0;
	n.start_ns = bpf_ktime_get_boot_ns();
	n.depth = pp ? pp->depth + 1 : 0;
	/* Until it execs, it runs its parent's program as its parent's user in
	 * its parent's cgroup (the current task): judged as the parent's child. */
	n.visible = wanted(ptgid);
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
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct proc_info *p, info;
	struct exit_event *e;
	unsigned int sflags;

	/* signal->live counts the threads not yet exiting; it reaches 0 before
	 * this tracepoint in the last one. Earlier threads are not the process. */
	if (BPF_CORE_READ(sig, live.counter) != 0)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	info = *p;
	bpf_map_delete_elem(&procs, &tgid);
	if (!emit_exits || !info.visible)
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
	e->cpu_ns = process_cpu(task, sig) - info.cpu_base_ns;
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* As wait(2) reports it: the group's code when the group exited as one. */
	sflags = BPF_CORE_READ(sig, flags);
	if (sflags & SIGNAL_GROUP_EXIT)
		e->status = BPF_CORE_READ(sig, group_exit_code);
	else
		e->status = BPF_CORE_READ(task, exit_code);
	e->depth = info.depth;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->_pad = 0;
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int sched_process_exec(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 old_pid = (__u32)ctx->args[1];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	__u32 ppid = BPF_CORE_READ(parent, tgid);
	__u32 depth = DEPTH_NONE;
	__u64 ts = bpf_ktime_get_boot_ns();
	unsigned long arg_start = 0, arg_end = 0;
	const char *filename, *interp;
	struct mm_struct *mm;
	struct scratch *s;
	__u32 fn_len;
	long n;

	if (trace_fails) {
		/* The attempt succeeded: forget it. A non-leader thread that
		 * exec'd entered under its own id and now runs as the leader. */
		bpf_map_delete_elem(&pending, &old_pid);
	}
	bool want = wanted(ppid);

	if (track)
		depth = proc_exec(task, ppid, ts, want);
	if (!want)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	begin(s, parent, ts, old_pid, ppid);
	s->hdr.depth = depth;

	/* The filename as the kernel was given it. Two bytes over the limit:
	 * a string longer than FILENAME_MAX_LEN is then cut and marked. */
	READ_PAIR(bprm, filename, interp, filename, interp);
	n = bpf_probe_read_kernel_str(s->filename, FILENAME_MAX_LEN + 2, filename);
	fn_len = str_len(s, n, EXEC_F_FILENAME_TRUNCATED, EXEC_F_FILENAME_FAILED);
	s->hdr.filename_len = fn_len;

	/* For #! scripts and binfmt_misc the kernel's bprm->interp is the
	 * interpreter; otherwise it is the same pointer as bprm->filename. */
	if (interp && interp != filename) {
		n = bpf_probe_read_kernel_str(s->data, FILENAME_MAX_LEN + 2, interp);
		if (n > 0) {
			__u64 in_len = bound(str_len(s, n, EXEC_F_INTERP_TRUNCATED, 0), FILENAME_MAX_LEN);

			if (!emit_piece(s, PIECE_INTERP, in_len))
				s->hdr.interp_len = in_len;
		}
	}
	if (BPF_CORE_READ(bprm, file, f_inode, i_nlink) == 0)
		s->hdr.flags |= EXEC_F_FILELESS;
	if (want_ctx)
		emit_context(s, task);

	mm = BPF_CORE_READ(task, mm);
	if (mm) {
		READ_PAIR(mm, arg_start, arg_end, arg_start, arg_end);
	} else {
		s->hdr.flags |= EXEC_F_NO_MM;
	}
	if (want_env && mm) {
		unsigned long env_start, env_end;

		READ_PAIR(mm, env_start, env_end, env_start, env_end);

		if (env_end > env_start) {
			unsigned long total = env_end - env_start;
			__u32 take = total > env_cap ? env_cap : total;

			if (take > ARGS_CAP_MAX)
				take = ARGS_CAP_MAX;
			if (take < total)
				s->hdr.flags |= EXEC_F_ENV_TRUNCATED;
			s->hdr.env_size = total;
			s->env_start = env_start;
			s->env_take = take;
		}
	}
	if (arg_end > arg_start) {
		unsigned long total = arg_end - arg_start;
		__u32 take = total > args_cap ? args_cap : total;

		if (take > ARGS_CAP_MAX)
			take = ARGS_CAP_MAX;
		if (take < total)
			s->hdr.flags |= EXEC_F_ARGS_TRUNCATED;
		s->hdr.args_size = total;
		s->arg_start = arg_start;
		s->take = take;
	}

	/* Through a descriptor ("/dev/fd/N..."): name the file that ran (then,
	 * if asked, the working directory). */
	if (fn_len >= 8 && s->filename[0] == '/' && s->filename[1] == 'd' && s->filename[2] == 'e' &&
	    s->filename[3] == 'v' && s->filename[4] == '/' && s->filename[5] == 'f' && s->filename[6] == 'd' &&
	    s->filename[7] == '/') {
		s->walk = PIECE_EXE;
		bpf_tail_call(ctx, &stages, STAGE_EXE);
	} else if (want_cwd) {
		s->walk = PIECE_CWD;
		bpf_tail_call(ctx, &stages, STAGE_EXE);
	}
	bpf_tail_call(ctx, &stages, STAGE_ARGS);
	/* Only if the stages are missing (they are installed before attaching). */
	s->hdr.flags |= EXEC_F_ARGS_READ_FAILED;
	finish(s, COUNTER_LOST_EXEC);
	return 0;
}

/*
 * 1 when x is not 0, else 0, without a branch: BPF has no set-on-condition
 * instruction, so a comparison becomes a jump, and a jump whose outcome
 * differs from step to step doubles the paths the verifier must follow at
 * every step of the walk. The barrier keeps the compiler from turning the
 * arithmetic back into a comparison.
 */
static __always_inline __u64 nonzero(__u64 x)
{
	__u64 neg = -x;

	barrier_var(neg);
	return (x | neg) >> 63;
}

/*
 * Stage STAGE_EXE: a path by its dentries. For an fd-based exec (execveat
 * with a directory fd or AT_EMPTY_PATH, fexecve), whose kernel filename
 * "/dev/fd/N..." does not say what ran, the file that ran (s->walk is
 * PIECE_EXE); with want_cwd, the working directory (PIECE_CWD), after the
 * file if both. Walk from the dentry up to the process's root (as
 * /proc/PID/exe and /proc/PID/cwd show them, inside a chroot too), crossing
 * mounts, writing each dentry's name into its own fixed slot. The walk always
 * takes EXE_DEPTH steps and picks the next dentry and mount without branching
 * (see nonzero()), so the verifier follows one path; once at the top it stays
 * there (a step that changes nothing is not counted). EXE_DEPTH - 1 steps or
 * more means it may not have reached the top.
 */
SEC("raw_tracepoint/exec_exe")
int exec_exe(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct scratch *s = get_scratch();
	struct task_struct *task;
	__u64 d, m, mnt_off, root_d, root_m;
	__u32 steps = 0, walk;
	int i;

	if (!s)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	mnt_off = bpf_core_field_offset(struct mount, mnt);
	if (s->walk == PIECE_CWD) {
		d = (__u64)BPF_CORE_READ(task, fs, pwd.dentry);
		m = (__u64)BPF_CORE_READ(task, fs, pwd.mnt) - mnt_off;
	} else {
		d = (__u64)BPF_CORE_READ(bprm, file, f_path.dentry);
		m = (__u64)BPF_CORE_READ(bprm, file, f_path.mnt) - mnt_off;
	}
	/* The process's root (chroot, or its mount namespace's root): the
	 * walk stops there, so the path is the one the process sees. */
	root_d = (__u64)BPF_CORE_READ(task, fs, root.dentry);
	root_m = (__u64)BPF_CORE_READ(task, fs, root.mnt) - mnt_off;
#pragma clang loop unroll(disable)
	for (i = 0; i < EXE_DEPTH; i++) {
		struct dentry *dd = (struct dentry *)d;
		struct mount *mm = (struct mount *)m;
		__u64 parent = (__u64)BPF_CORE_READ(dd, d_parent);
		__u64 root = (__u64)BPF_CORE_READ(mm, mnt.mnt_root);
		__u64 up = (__u64)BPF_CORE_READ(mm, mnt_parent);
		__u64 mountpoint = (__u64)BPF_CORE_READ(mm, mnt_mountpoint);
		__u64 at_root, keep, stay, nd, nm;

		char *slot = s->data + (i & (EXE_DEPTH_POW2 - 1)) * EXE_SLOT;

		bpf_probe_read_kernel_str(slot, EXE_SLOT, BPF_CORE_READ(dd, d_name.name));
		/* At the mount's root: continue at its mountpoint in the parent
		 * mount; else at the parent dentry. Selected arithmetically. */
		at_root = 1 - (nonzero(d ^ root) & nonzero(d ^ parent));
		keep = at_root - 1; /* all ones when not at the root */
		/* A mount's root is no part of the path (it stands for its
		 * mountpoint, named at the next step; a bind mount's root has the
		 * name of what was bound): its slot is left empty. (A dentry that
		 * is its own parent but no mount's root, as a memfd's, keeps its
		 * name.) */
		slot[0] &= (char)(0 - nonzero(d ^ root));
		nd = (parent & keep) | (mountpoint & ~keep);
		nm = (m & keep) | (up & ~keep);
		/* At the process's root: stay. */
		stay = 0 - (1 - nonzero((d ^ root_d) | (m ^ root_m))); /* all ones there */
		nd = (d & stay) | (nd & ~stay);
		nm = (m & stay) | (nm & ~stay);
		steps += nonzero((nd ^ d) | (nm ^ m));
		d = nd;
		m = nm;
	}
	/* Read again, not kept across the loop: the loop is then one path for
	 * the verifier whichever walk this is. */
	walk = *(volatile __u32 *)&s->walk;
	if (walk == PIECE_CWD) {
		if (!emit_piece(s, PIECE_CWD, EXE_DEPTH * EXE_SLOT)) {
			s->hdr.cwd_len = EXE_DEPTH * EXE_SLOT;
			s->hdr.cwd_steps = steps;
			if (steps >= EXE_DEPTH - 1)
				s->hdr.flags |= EXEC_F_CWD_TRUNCATED;
		}
	} else {
		if (!emit_piece(s, PIECE_EXE, EXE_DEPTH * EXE_SLOT)) {
			s->hdr.exe_len = EXE_DEPTH * EXE_SLOT;
			s->hdr.exe_steps = steps;
			if (steps >= EXE_DEPTH - 1)
				s->hdr.flags |= EXEC_F_EXE_TRUNCATED;
		}
		if (want_cwd) {
			s->walk = PIECE_CWD;
			bpf_tail_call(ctx, &stages, STAGE_EXE);
		}
	}
	bpf_tail_call(ctx, &stages, STAGE_ARGS);
	s->hdr.flags |= EXEC_F_ARGS_READ_FAILED;
	finish(s, COUNTER_LOST_EXEC);
	return 0;
}

/*
 * Stage STAGE_ARGS: copy the next STAGE_CHUNKS whole pieces of the argument
 * area (then, with want_env, of the environment block: s->phase), then
 * either run again (a tail call to itself) for more whole pieces or copy the
 * remainder and go on to the next area or close the run. Each run is the
 * same small program, so what the verifier checks does not depend on how
 * much is copied. Whole pieces have a constant size and the remainder a
 * masked one: every iteration has one path for the verifier to follow.
 */
SEC("raw_tracepoint/exec_args")
int exec_args(struct bpf_raw_tracepoint_args *ctx)
{
	struct scratch *s = get_scratch();
	__u32 kind, failed;
	__u64 rem;
	int i;

	if (!s)
		return 0;
	kind = s->phase == PIECE_ENV ? PIECE_ENV : PIECE_ARGS;
	failed = kind == PIECE_ENV ? EXEC_F_ENV_READ_FAILED : EXEC_F_ARGS_READ_FAILED;
#pragma clang loop unroll(disable)
	for (i = 0; i < STAGE_CHUNKS; i++) {
		__u32 done = *(volatile __u32 *)&s->done;

		if (s->take - done < PIECE_DATA)
			break;
		if (bpf_probe_read_user(s->data, PIECE_DATA, (const void *)(s->arg_start + done))) {
			s->hdr.flags |= failed;
			goto out;
		}
		if (emit_piece(s, kind, PIECE_DATA))
			goto out;
		s->done = done + PIECE_DATA;
	}
	if (s->take - s->done >= PIECE_DATA) {
		bpf_tail_call(ctx, &stages, STAGE_ARGS);
		/* Out of tail calls (cannot happen within ARGS_CAP_MAX of
		 * arguments alone): the rest is cut, and marked. */
		s->hdr.flags |= kind == PIECE_ENV ? EXEC_F_ENV_TRUNCATED : EXEC_F_ARGS_TRUNCATED;
		goto out;
	}
	rem = masked(s->take - s->done, PIECE_DATA - 1);
	if (rem) {
		if (bpf_probe_read_user(s->data, rem, (const void *)(s->arg_start + s->done))) {
			s->hdr.flags |= failed;
			goto out;
		}
		if (!emit_piece(s, kind, rem))
			s->done += rem;
	}
out:
	if (kind == PIECE_ENV) {
		s->hdr.env_len = s->done;
	} else {
		s->hdr.args_len = s->done;
		if (want_env && s->env_take) {
			s->phase = PIECE_ENV;
			s->arg_start = s->env_start;
			s->take = s->env_take;
			s->done = 0;
			bpf_tail_call(ctx, &stages, STAGE_ARGS);
			s->hdr.flags |= EXEC_F_ENV_TRUNCATED; /* out of tail calls */
		}
	}
	finish(s, COUNTER_LOST_EXEC);
	return 0;
}

/*
 * -x: failed exec attempts. The entry programs remember where the caller's
 * filename and argv are; the exit programs, when the attempt failed, read
 * them (the caller's memory is unchanged after a failed exec) and write a run
 * (an argument piece, then the exec record) with ret = -errno. Successful
 * attempts are reported by sched_process_exec above and forgotten there.
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

/* Close a failed attempt's run: the gathered argv strings as one piece,
 * then the exec record. */
static __always_inline void finish_fail(struct scratch *s)
{
	__u64 off;

	if (s->done > FAIL_ARGS_ROOM)
		s->hdr.flags |= EXEC_F_ARGS_TRUNCATED;
	off = bound(s->done, FAIL_ARGS_ROOM);
	/* The caller's argv is not one area: its size is what was read. */
	s->hdr.args_size = off;
	if (off && !emit_piece(s, PIECE_ARGS, off))
		s->hdr.args_len = off;
	finish(s, COUNTER_LOST_FAIL);
}

/* Tail-called by the exit programs: gathers the failed attempt's argv. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} fail_stages SEC(".maps");

static __always_inline int leave(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent;
	struct pending *p;
	struct pending att;
	struct scratch *s;
	__u32 ppid;
	long n;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	att = *p;
	bpf_map_delete_elem(&pending, &tid);
	if (ret >= 0)
		return 0; /* reported by sched_process_exec */

	parent = BPF_CORE_READ(task, real_parent);
	ppid = BPF_CORE_READ(parent, tgid);
	if (!wanted(ppid))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	begin(s, parent, att.ts_ns, tid, ppid);
	s->hdr.ret = (__s32)ret;
	s->hdr.depth = proc_depth(task);

	n = bpf_probe_read_user_str(s->filename, FILENAME_MAX_LEN + 2, att.filename);
	s->hdr.filename_len = str_len(s, n, EXEC_F_FILENAME_TRUNCATED, EXEC_F_FILENAME_FAILED);

	s->arg_start = (__u64)att.argv;
	s->take = 0; /* the next argv index */
	if (att.argv) {
		bpf_tail_call(ctx, &fail_stages, 0);
		s->hdr.flags |= EXEC_F_ARGS_READ_FAILED; /* the stage is missing */
	}
	finish_fail(s);
	return 0;
}

/*
 * The failed attempt's argv strings, FAIL_STAGE_ARGS per run (then a tail
 * call to itself), NUL-separated like an argument area, gathered in s->data.
 * The argv index (s->take) and the write position (s->done) live in memory:
 * loaded back, they are plain bounded values to the verifier, which then sees
 * the same state at every argument instead of one per length so far.
 */
SEC("tracepoint/execsnoop/fail_args")
int fail_args(void *ctx)
{
	struct scratch *s = get_scratch();
	const char *const *argv;
	int i;

	if (!s)
		return 0;
	argv = (const char *const *)s->arg_start;
#pragma clang loop unroll(disable)
	for (i = 0; i < FAIL_STAGE_ARGS; i++) {
		/* volatile: read back from memory, not forwarded by the compiler */
		__u32 idx = *(volatile __u32 *)&s->take;
		__u32 off = *(volatile __u32 *)&s->done;
		const char *arg = NULL;
		long n;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[idx])) {
			s->hdr.flags |= EXEC_F_ARGS_READ_FAILED;
			goto out;
		}
		if (!arg)
			goto out;
		if (idx >= FAIL_MAX_ARGS || off >= FAIL_ARGS_ROOM) {
			s->hdr.flags |= EXEC_F_ARGS_TRUNCATED; /* more arguments than kept */
			goto out;
		}
		n = bpf_probe_read_user_str(s->data + (off & (FAIL_ARGS_ROOM - 1)), FAIL_ARG_MAX, arg);
		if (n < 0) {
			s->hdr.flags |= EXEC_F_ARGS_READ_FAILED;
			goto out;
		}
		if (n == 0) {
			/* An empty string: kernels before 6.3 (or so) return 0 for
			 * it, later ones 1 (its NUL). Keep it as one NUL. */
			s->data[off & (FAIL_ARGS_ROOM - 1)] = 0;
			n = 1;
		}
		if (n == FAIL_ARG_MAX)
			s->hdr.flags |= EXEC_F_ARGS_TRUNCATED; /* this argument may be longer */
		s->done = off + n;
		s->take = idx + 1;
	}
	bpf_tail_call(ctx, &fail_stages, 0);
	s->hdr.flags |= EXEC_F_ARGS_TRUNCATED; /* out of tail calls */
out:
	finish_fail(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int sys_exit_execve(struct syscall_exit_ctx *ctx)
{
	return leave(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int sys_exit_execveat(struct syscall_exit_ctx *ctx)
{
	return leave(ctx, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
