/* SPDX-License-Identifier: GPL-2.0 */
/*
 * execsnoop.h: the one definition of the wire format between the BPF program
 * (execsnoop.bpf.c) and user space. src/source/bpf/wire.rs mirrors it field by
 * field and asserts the sizes and offsets; change both together.
 *
 * Every record in the ring buffer starts with a __u32 type.
 *
 * An exec (or, with -x, a failed exec attempt) is a run of records written by
 * one program run on one CPU, one after the other: zero or more PIECE records
 * (struct piece + len bytes), then the EXEC record that closes the run
 * (struct exec_event + filename_len bytes of filename, no NUL). The EXEC
 * record comes last so that it can say what was delivered: `pieces` counts
 * the pieces before it, and interp_len, exe_len and args_len are the bytes
 * its pieces carry, by kind. Pieces carry the exec's ts_ns and cpu; user space
 * collects them per CPU and joins them to the EXEC record with the same
 * ts_ns. Pieces whose EXEC record could not be written (ring buffer full,
 * counted as a lost exec) are dropped when the next run from that CPU starts.
 *
 * Piece kinds, each at most PIECE_DATA bytes, in this order:
 *  - PIECE_INTERP: the interpreter path (#! scripts, binfmt_misc), no NUL.
 *  - PIECE_EXE: for execs through a descriptor (filename "/dev/fd/N..."),
 *    the file that ran: EXE_DEPTH slots of EXE_SLOT bytes, each the
 *    NUL-terminated name of one dentry on the way from the file up to the
 *    root, leaf first; slots 0..exe_steps are valid, a mount's root is "/".
 *  - PIECE_CTX (only when asked for): one struct exec_context.
 *  - PIECE_CWD (only when asked for): the working directory, as PIECE_EXE,
 *    its walk's steps in cwd_steps.
 *  - PIECE_ARGS: the next bytes of the new process's argument area
 *    (NUL-separated strings, exactly as the kernel laid them out at
 *    mm->arg_start); their concatenation is the captured area.
 *  - PIECE_ENV (only when asked for): the next bytes of the environment
 *    block (mm->env_start..env_end), likewise.
 *
 * No record needs more than PIECE_DATA bytes of payload, so the program uses
 * no variable-size reservations (dynptrs: Linux 5.19) and the verifier's work
 * does not grow with the capture cap: long argument areas are copied by a
 * program that tail-calls itself, STAGE_CHUNKS pieces per run.
 *
 * An exit record is a struct exit_event, nothing after it.
 */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#define TASK_COMM_LEN 16

/* Record types. */
#define EVENT_EXEC  1
#define EVENT_EXIT  2
#define EVENT_PIECE 3

/* piece.kind */
#define PIECE_INTERP 1
#define PIECE_EXE    2
#define PIECE_ARGS   3
#define PIECE_CTX    4 /* struct exec_context (--context options): who, where, which namespaces */
#define PIECE_CWD    5 /* the working directory's dentry names, as PIECE_EXE */
#define PIECE_ENV    6 /* the next bytes of the environment block (mm->env_start), as PIECE_ARGS */

/* exec_event.flags */
#define EXEC_F_ARGS_TRUNCATED     (1u << 0) /* args_len < args_size: cut at the cap */
#define EXEC_F_ARGS_READ_FAILED   (1u << 1) /* reading the argument area failed */
#define EXEC_F_FILENAME_TRUNCATED (1u << 2) /* filename longer than FILENAME_MAX_LEN */
#define EXEC_F_FILENAME_FAILED    (1u << 3) /* filename could not be read */
#define EXEC_F_NO_MM              (1u << 4) /* task had no mm (kernel thread) */
#define EXEC_F_FILELESS           (1u << 5) /* the executed file has no name on disk (memfd, deleted) */
#define EXEC_F_INTERP_TRUNCATED   (1u << 6) /* interpreter path longer than FILENAME_MAX_LEN */
#define EXEC_F_EXE_TRUNCATED      (1u << 7) /* the walk to the root stopped at EXE_DEPTH: path incomplete */
#define EXEC_F_PIECE_LOST         (1u << 8) /* a piece could not be written (ring buffer full): what it
					     * and later pieces carried is missing */
#define EXEC_F_ENV_TRUNCATED      (1u << 9) /* env_len < env_size: cut at the cap */
#define EXEC_F_ENV_READ_FAILED    (1u << 10) /* reading the environment block failed */
#define EXEC_F_CWD_TRUNCATED      (1u << 11) /* the working directory's walk stopped at EXE_DEPTH */

/* exec_context.privilege: what the exec raised. */
#define PRIV_SETUID (1u << 0) /* set-user-ID file: effective uid differs from the real one */
#define PRIV_SETGID (1u << 1) /* set-group-ID file: effective gid differs from the real one */
#define PRIV_CAPS   (1u << 2) /* file capabilities: effective capabilities, real and effective uid not root */

/* Indexes of exec_context.ns: namespace inode numbers. */
#define NS_PID    0
#define NS_MNT    1
#define NS_NET    2
#define NS_USER   3
#define NS_UTS    4
#define NS_IPC    5
#define NS_CGROUP 6
#define NS_COUNT  7

/* The file that ran, for fd-based execs: names of dentries up to the root. */
#define EXE_SLOT         256u /* NAME_MAX + 1 */
#define EXE_DEPTH        24
#define EXE_DEPTH_POW2   32   /* EXE_DEPTH rounded up to a power of two (for a mask) */

/* Argument bytes captured per exec: default, and the largest the tool allows
 * (the kernel's own ceiling for argv+envp is 3/4 of an 8 MiB stack, 6 MiB). */
#define ARGS_CAP_DEFAULT (32u * 1024)
#define ARGS_CAP_MAX     (6u * 1024 * 1024)

/* Pieces: payload bytes at most, and argument pieces per run of the
 * argument stage (which tail-calls itself for the rest: 6 MiB takes 24 runs,
 * within the kernel's limit of 32 tail calls). */
#define PIECE_DATA       (16u * 1024)
#define STAGE_CHUNKS     16
#define FILENAME_MAX_LEN 4096u /* filename bytes kept; kernel paths have at most 4095 */

/* Indexes of the tail-called stages of the exec program ("stages" map). */
#define STAGE_EXE  0
#define STAGE_ARGS 1
#define STAGES     2

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
	__u32 visible;     /* it passed the kernel filters (-P -u -c) at its exec, or at its fork
			    * when it has not exec'd: its exit is reported only then */
};

/* -x: exec attempts in flight, keyed by thread id, and how failed attempts'
 * arguments are read from the caller's pointers (best effort). */
#define PENDING_MAX      16384
#define FAIL_ARGS_ROOM   8192u  /* bytes of arguments kept for a failed attempt */
#define FAIL_ARG_MAX     4096u  /* bytes read per argument string */
#define FAIL_MAX_ARGS    128
#define FAIL_STAGE_ARGS  16     /* argv strings read per run of the fail_args stage */

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
	__u32 args_len;     /* argument bytes carried by this run's PIECE_ARGS pieces */
	__u32 filename_len; /* filename bytes after this header */
	__u32 interp_len;   /* interpreter path bytes (PIECE_INTERP); 0 when none */
	__s32 ret;          /* 0: the exec succeeded; -errno: a failed attempt */
	__u32 depth;        /* process depth (see struct proc_info), DEPTH_NONE when not followed */
	__u32 exe_len;      /* bytes of executed-file dentry names (PIECE_EXE); 0 when the filename says it */
	__u32 exe_steps;    /* slots 0..exe_steps of them are valid */
	__u32 cpu;          /* CPU that wrote this run of records */
	__u32 pieces;       /* PIECE records written before this one in the run */
	__u32 env_size;     /* env_end - env_start, when the environment was asked for */
	__u32 env_len;      /* environment bytes carried by PIECE_ENV pieces */
	__u32 cwd_len;      /* bytes of working-directory dentry names (PIECE_CWD) */
	__u32 cwd_steps;    /* slots 0..cwd_steps of them are valid */
	char comm[TASK_COMM_LEN];
	char pcomm[TASK_COMM_LEN]; /* the real parent process's name (its leader's comm) */
};

/* Who ran what, where (PIECE_CTX): read at the exec, from the new
 * process's credentials, task and namespaces. */
struct exec_context {
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 loginuid;       /* audit login uid: who logged in (across sudo); (u32)-1 when unset */
	__u32 sessionid;      /* audit session id; (u32)-1 when unset */
	__u32 nspid;          /* the pid as its own pid namespace sees it */
	__u64 start_boottime; /* when the task started (its fork): ns since boot */
	__u64 self_exec_id;   /* the task's exec count: with the pid and start, names this exec */
	__u64 parent_start_boottime; /* the real parent process's start: tells a reused pid apart */
	__u64 cap_effective;  /* effective capabilities after the exec */
	__u32 privilege;      /* PRIV_* */
	__u32 ns[NS_COUNT];   /* namespace inode numbers, by NS_* */
	char tty[TASK_COMM_LEN]; /* controlling terminal's name ("pts/3"); empty when none */
};

/* A part of an exec's data, written before its exec_event. */
struct piece {
	__u32 type;         /* EVENT_PIECE */
	__u32 kind;         /* PIECE_* */
	__u64 ts_ns;        /* ts_ns of the exec_event that closes the run */
	__u32 cpu;          /* its cpu */
	__u32 len;          /* payload bytes after this header, at most PIECE_DATA */
};

/* The end of a followed process that passed the kernel filters: its last
 * thread exited. */
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
	__u32 uid;          /* real uid at exit */
	__u32 _pad;
	__u64 cgroup_id;    /* cgroup v2 id at exit */
	char comm[TASK_COMM_LEN];
};

#endif
