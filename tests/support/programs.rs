//! Small C programs the tests build with `cc` ([`compile_c`], each in a
//! temporary directory removed on drop), among them the exec storm driver
//! ([`STORM_C`], [`compile_storm`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use super::tracer::run_capture;

/// A C program compiled into its own temporary directory, removed on drop.
pub struct CProgram {
    dir: PathBuf,
    pub path: PathBuf,
}

impl Drop for CProgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Compile `source` with `cc -O2 -Wall -pthread`; panics with the compiler's
/// output on failure.
pub fn compile_c(name: &str, source: &str) -> CProgram {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "execsnoop-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let prog = CProgram { path: dir.join(name), dir };
    let src = prog.dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    let mut cmd = Command::new("cc");
    cmd.args(["-O2", "-Wall", "-pthread", "-o"]).arg(&prog.path).arg(&src);
    let (_, out) = run_capture(&mut cmd);
    assert!(out.status.success(), "compiling the C helper {name} failed\n{}", out.dump());
    prog
}

/// The exec storm driver (C): `storm TOTAL THREADS PADLEN [TAG]`. After one
/// byte on stdin, THREADS threads together posix_spawn + wait `/bin/true
/// ARG` TOTAL times, every one a child of the driver; ARG is PADLEN bytes
/// of `p`, or with TAG `TAG-THREAD-SEQ` (unique per exec). Prints how many
/// ran.
const STORM_C: &str = r#"
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long per_thread;
static char *pad;
static const char *tag;
static long done[64];

static void *storm(void *arg) {
    long idx = (long)arg;
    char buf[256];
    char *argv[] = {"true", tag ? buf : pad, NULL};
    char *envp[] = {NULL};
    for (long i = 0; i < per_thread; i++) {
        pid_t pid;
        int st, rc;
        if (tag)
            snprintf(buf, sizeof buf, "%s-%ld-%ld", tag, idx, i);
        rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, envp);
        if (rc != 0) {
            fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
            exit(3);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed\n", (int)pid);
            exit(4);
        }
        done[idx]++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t t[64];
    long total, threads, padlen, sum = 0;
    char c;
    if (argc != 4 && argc != 5)
        return 2;
    total = atol(argv[1]);
    threads = atol(argv[2]);
    padlen = atol(argv[3]);
    tag = argc == 5 ? argv[4] : NULL;
    if (threads < 1 || threads > 64 || total % threads != 0 || padlen < 1)
        return 2;
    per_thread = total / threads;
    pad = malloc(padlen + 1);
    memset(pad, 'p', padlen);
    pad[padlen] = 0;
    if (read(0, &c, 1) != 1)
        return 5;
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, storm, (void *)i) != 0)
            return 6;
    for (long i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum += done[i];
    }
    printf("%ld\n", sum);
    return 0;
}
"#;

/// [`STORM_C`], compiled.
pub fn compile_storm() -> CProgram {
    compile_c("storm", STORM_C)
}
