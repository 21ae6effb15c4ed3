/* SPDX-License-Identifier: GPL-2.0 */
/*
 * execsnoop.h: the one definition of the wire format between the BPF program
 * (execsnoop.bpf.c) and user space. src/wire.rs mirrors it field by field and
 * asserts the sizes and offsets; change both together.
 *
 * Every record in the ring buffer starts with a __u32 type. An exec record is
 * struct exec_event followed by filename_len bytes of filename (no NUL),
 * interp_len bytes of interpreter path (no NUL), and then args_len bytes of
 * the new process's argument area (NUL-separated strings, exactly as the
 * kernel laid them out at mm->arg_start). Between the interpreter and the
 * arguments, exe_len bytes (0, or EXE_DEPTH * EXE_SLOT) describe the file
 * that ran when the filename does not name it (execveat/fexecve through a
 * descriptor: "/dev/fd/N..."): EXE_DEPTH slots of EXE_SLOT bytes, each a
 * NUL-terminated name of one dentry on the way from the file up to the
 * root, leaf first; slots 0..exe_steps are valid, a mount's root dentry is
 * named "/". An exit record is a struct exit_event, nothing after it.
 */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#define TASK_COMM_LEN 16

/* Record types. */
#define EVENT_EXEC 1
#define EVENT_EXIT 2

/* exec_event.flags */
#define EXEC_F_ARGS_TRUNCATED     (1u << 0) /* args_len < args_size: cut at the cap */
#define EXEC_F_ARGS_READ_FAILED   (1u << 1) /* reading the argument area failed */
#define EXEC_F_FILENAME_TRUNCATED (1u << 2) /* filename longer than FILENAME_MAX_LEN */
#define EXEC_F_FILENAME_FAILED    (1u << 3) /* filename could not be read */
#define EXEC_F_NO_MM              (1u << 4) /* task had no mm (kernel thread) */
#define EXEC_F_FILELESS           (1u << 5) /* the executed file has no name on disk (memfd, deleted) */
#define EXEC_F_INTERP_TRUNCATED   (1u << 6) /* interpreter path longer than FILENAME_MAX_LEN */
#define EXEC_F_EXE_TRUNCATED      (1u << 7) /* the walk to the root stopped at EXE_DEPTH: path incomplete */

/* The file that ran, for fd-based execs: names of dentries up to the root. */
#define EXE_SLOT         256u /* NAME_MAX + 1 */
#define EXE_DEPTH        24
#define EXE_DEPTH_POW2   32   /* EXE_DEPTH rounded up to a power of two (for a mask) */
#define EXE_OFF          (2 * FILENAME_MAX_LEN + 16) /* staged here in the scratch buffer */

/* Argument bytes captured per exec: default, and the largest the tool allows
 * (the kernel's own ceiling for argv+envp is 3/4 of an 8 MiB stack, 6 MiB). */
#define ARGS_CAP_DEFAULT (32u * 1024)
#define ARGS_CAP_MAX     (6u * 1024 * 1024)

/* Per-CPU staging buffer used to copy user memory into the record. */
#define SCRATCH_SIZE     (16u * 1024)
#define SCRATCH_PAD      (8u * 1024) /* room after the buffer for bounded reads */
#define ARGS_MAX_CHUNKS  (ARGS_CAP_MAX / SCRATCH_SIZE)
#define FILENAME_MAX_LEN 4096u /* filename bytes kept; kernel paths have at most 4095 */

/* Keys of the per-CPU "counters" array. */
#define COUNTER_LOST_EXEC    0 /* exec records dropped: ring buffer full */
#define COUNTER_LOST_FAIL    1 /* failed-exec records dropped: ring buffer full */
#define COUNTER_UNTRACKED    2 /* exec attempts not followed: pending map full (-x) */
#define COUNTER_LOST_EXIT    3 /* exit records dropped: ring buffer full */
#define COUNTER_PROC_TABLE   4 /* processes not followed: procs map full */
#define COUNTER_MAX          8

/* Processes followed from fork (or exec) to exit, keyed by tgid: for exit
 * records, -p / COMMAND (only processes in the table are traced) and depth. */
#define PROCS_MAX        32768
#define DEPTH_NONE       0xffffffffu /* exec_event.depth when processes are not followed */

struct proc_info {
	__u64 start_ns;    /* exec, or fork for a process that has not exec'd: ns since boot */
	__u64 exec_ns;     /* ts_ns of the last exec record, 0 if none */
	__u64 cpu_base_ns; /* the process's CPU time at start_ns */
	__u32 depth;       /* below the traced root, or below the first ancestor seen */
	__u32 _pad;
};

/* -x: exec attempts in flight, keyed by thread id, and how failed attempts'
 * arguments are read from the caller's pointers (best effort). */
#define PENDING_MAX      16384
#define FAIL_ARGS_OFF    8192u  /* args staged at this offset in the scratch buffer */
#define FAIL_ARGS_ROOM   8192u  /* bytes of arguments kept for a failed attempt */
#define FAIL_ARG_MAX     4096u  /* bytes read per argument string */
#define FAIL_MAX_ARGS    128

struct exec_event {
	__u32 type;         /* EVENT_EXEC */
	__u32 flags;        /* EXEC_F_* */
	__u64 ts_ns;        /* bpf_ktime_get_boot_ns(): ns since boot */
	__u64 cgroup_id;    /* cgroup v2 id of the task */
	__u32 pid;          /* process id (tgid) after exec */
	__u32 old_pid;      /* thread id that called exec (differs when a non-leader thread did) */
	__u32 ppid;         /* real parent's tgid */
	__u32 uid;          /* real uid */
	__u32 args_size;    /* arg_end - arg_start: size of the whole argument area */
	__u32 args_len;     /* argument bytes carried by this record */
	__u32 filename_len; /* filename bytes carried by this record */
	__u32 interp_len;   /* interpreter path bytes (#! scripts, binfmt_misc); 0 when none */
	__s32 ret;          /* 0: the exec succeeded; -errno: a failed attempt */
	__u32 depth;        /* process depth (see struct proc_info), DEPTH_NONE when not followed */
	__u32 exe_len;      /* bytes of executed-file dentry names (see above); 0 when the filename says it */
	__u32 exe_steps;    /* slots 0..exe_steps of them are valid */
	char comm[TASK_COMM_LEN];
	char pcomm[TASK_COMM_LEN]; /* the real parent process's name (its leader's comm) */
};

/* The end of a followed process: its last thread exited. */
struct exit_event {
	__u32 type;         /* EVENT_EXIT */
	__u32 flags;        /* none yet */
	__u64 ts_ns;        /* when the last thread exited: ns since boot */
	__u64 exec_ts_ns;   /* ts_ns of the process's exec record; 0: no exec while followed */
	__u64 start_ts_ns;  /* exec, or fork when it never exec'd */
	__u64 cpu_ns;       /* CPU (user + system, all threads) since start_ts_ns */
	__u32 pid;          /* tgid */
	__u32 ppid;         /* real parent's tgid */
	__u32 status;       /* wait(2) status word: exit code << 8, or the killing signal (| 0x80: core) */
	__u32 depth;        /* as in proc_info */
	char comm[TASK_COMM_LEN];
};

#endif
