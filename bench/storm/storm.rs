//! The storm: the no-op program it runs, the plan of execs per worker, the
//! workers (posix_spawn + wait, each exec's argv known in advance) and the
//! environment every exec gets.

use super::*;

// ---------------------------------------------------------------------------
// The no-op program

pub(super) struct Noop {
    pub(super) path: CString,
    pub(super) path_str: String,
    /// What the kernel's comm will be after exec.
    pub(super) comm: String,
    /// "static" or a description of the fallback.
    pub(super) kind: String,
}

pub(super) fn build_noop(dir: &Path) -> Noop {
    let src = dir.join("noop.c");
    let bin = dir.join("noop");
    let why = match fs::write(&src, "int main(void){return 0;}\n") {
        Err(e) => format!("cannot write {}: {e}", src.display()),
        Ok(()) => match Command::new("cc").arg("-static").arg("-O2").arg("-o").arg(&bin).arg(&src).output() {
            Err(e) => format!("cannot run cc: {e}"),
            Ok(o) if o.status.success() && is_executable(&bin) => {
                let path_str = bin.to_string_lossy().into_owned();
                return Noop {
                    path: CString::new(path_str.clone()).unwrap_or_default(),
                    path_str,
                    comm: "noop".into(),
                    kind: "static".into(),
                };
            }
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                format!("cc -static failed ({}): {}", o.status, err.lines().next().unwrap_or("").trim())
            }
        },
    };
    let truebin =
        ["/bin/true", "/usr/bin/true"].into_iter().find(|p| is_executable(Path::new(p))).unwrap_or("/bin/true");
    eprintln!("storm: WARNING: could not build a static no-op ({why}); falling back to {truebin}");
    Noop {
        path: CString::new(truebin).unwrap_or_default(),
        path_str: truebin.into(),
        comm: "true".into(),
        kind: format!("{truebin} (fallback: static build failed)"),
    }
}

// ---------------------------------------------------------------------------
// The storm

/// Which exec belongs to which worker/seq, and what its argv must be.
pub(super) struct Plan {
    pub(super) workers: usize,
    pub(super) per_worker: Vec<usize>,
    pub(super) offsets: Vec<usize>,
    pub(super) total: usize,
}

impl Plan {
    pub(super) fn new(workers: usize, total: usize) -> Plan {
        let per_worker: Vec<usize> = (0..workers).map(|w| total / workers + usize::from(w < total % workers)).collect();
        let mut offsets = Vec::with_capacity(workers);
        let mut acc = 0;
        for &n in &per_worker {
            offsets.push(acc);
            acc += n;
        }
        Plan { workers, per_worker, offsets, total }
    }

    /// Global index of (worker, seq), if it is part of the plan.
    pub(super) fn index(&self, w: usize, s: usize) -> Option<usize> {
        (w < self.workers && s < self.per_worker[w]).then(|| self.offsets[w] + s)
    }
}

pub(super) fn filler(w: usize, s: usize) -> String {
    (0..FILLER_LEN).map(|i| FILLER_ALPHABET[(w * 7919 + s * 31 + i * 17) % FILLER_ALPHABET.len()] as char).collect()
}

pub(super) fn expected_argv(tag: &str, w: usize, s: usize) -> [String; 5] {
    ["noop".into(), tag.into(), w.to_string(), s.to_string(), filler(w, s)]
}

pub(super) fn expected_fail_argv(missing: &str, w: usize, s: usize) -> [String; 4] {
    [missing.into(), FAIL_MARKER.into(), w.to_string(), s.to_string()]
}

/// The nonexistent program the `-x` scenario tries to exec now and then.
pub(super) struct Missing {
    pub(super) path: CString,
    pub(super) path_str: String,
}

impl Missing {
    pub(super) fn new(dir: &Path) -> Missing {
        let path_str = dir.join(MISSING_NAME).to_string_lossy().into_owned();
        Missing { path: CString::new(path_str.clone()).unwrap_or_default(), path_str }
    }
}

pub(super) struct StormOutcome {
    pub(super) wall: Duration,
    /// PID of each exec by global index (0 when the spawn failed).
    pub(super) pids: Vec<i32>,
    pub(super) failures: u64,
    pub(super) first_error: Option<String>,
    /// Failing exec attempts made (worker, seq), when the storm included them.
    pub(super) fail_attempts: Vec<(usize, usize)>,
    /// Failing attempts that did not fail with ENOENT as they should.
    pub(super) fail_unexpected: u64,
    pub(super) fail_example: Option<String>,
}

/// What one worker did.
pub(super) struct WorkerOutcome {
    pub(super) pids: Vec<i32>,
    pub(super) failures: u64,
    pub(super) first_error: Option<String>,
    pub(super) fail_attempts: Vec<(usize, usize)>,
    pub(super) fail_unexpected: u64,
    pub(super) fail_example: Option<String>,
}

pub(super) fn run_storm(plan: &Plan, noop: &Noop, tag: &'static str, missing: Option<&Missing>) -> Res<StormOutcome> {
    check_abort()?;
    let barrier = Arc::new(Barrier::new(plan.workers + 1));
    let mut handles = Vec::with_capacity(plan.workers);
    for w in 0..plan.workers {
        let n = plan.per_worker[w];
        let path = noop.path.clone();
        let missing = missing.map(|m| (m.path.clone(), m.path_str.clone()));
        let barrier = Arc::clone(&barrier);
        let h = thread::Builder::new()
            .name(format!("storm-{w}"))
            .spawn(move || storm_worker(w, n, &path, tag, missing, &barrier))
            .map_err(|e| format!("cannot start worker thread: {e}"));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Let the started workers through the barrier so they can finish.
                ABORT.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut out = StormOutcome {
        wall: Duration::ZERO,
        pids: Vec::with_capacity(plan.total),
        failures: 0,
        first_error: None,
        fail_attempts: Vec::new(),
        fail_unexpected: 0,
        fail_example: None,
    };
    for h in handles {
        match h.join() {
            Ok(r) => {
                out.pids.extend(r.pids);
                out.failures += r.failures;
                if out.first_error.is_none() {
                    out.first_error = r.first_error;
                }
                out.fail_attempts.extend(r.fail_attempts);
                out.fail_unexpected += r.fail_unexpected;
                if out.fail_example.is_none() {
                    out.fail_example = r.fail_example;
                }
            }
            Err(_) => return Err("a storm worker thread panicked".into()),
        }
    }
    out.wall = t0.elapsed();
    check_abort()?;
    Ok(out)
}

/// Wait for our own child; returns its status, or an error text.
pub(super) fn wait_child(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if r < 0 && err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(format!("waitpid: {err}"));
    }
}

pub(super) fn storm_worker(
    w: usize,
    n: usize,
    path: &CStr,
    tag: &str,
    missing: Option<(CString, String)>,
    barrier: &Barrier,
) -> WorkerOutcome {
    let to_c =
        |v: &[String]| -> Vec<CString> { v.iter().map(|a| CString::new(a.as_str()).unwrap_or_default()).collect() };
    let argvs: Vec<Vec<CString>> = (0..n).map(|s| to_c(&expected_argv(tag, w, s))).collect();
    // The failing attempts' argvs, indexed by seq / FAIL_EVERY.
    let fail_argvs: Vec<Vec<CString>> = match &missing {
        Some((_, m)) => {
            (0..n).filter(|s| s % FAIL_EVERY == FAIL_OFFSET).map(|s| to_c(&expected_fail_argv(m, w, s))).collect()
        }
        None => Vec::new(),
    };
    // A typical small environment (about 600 bytes, one secret-looking name
    // that --env redacts), the same for every row: only --env reads it.
    let env_vars: Vec<CString> = STORM_ENV.iter().map(|v| CString::new(*v).unwrap_or_default()).collect();
    let mut envp: Vec<*mut libc::c_char> = env_vars.iter().map(|v| v.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    let mut o = WorkerOutcome {
        pids: Vec::with_capacity(n),
        failures: 0,
        first_error: None,
        fail_attempts: Vec::with_capacity(fail_argvs.len()),
        fail_unexpected: 0,
        fail_example: None,
    };
    barrier.wait();
    for (s, argv) in argvs.iter().enumerate() {
        if aborted() {
            o.pids.push(0);
            continue;
        }
        if let Some((mpath, _)) = &missing
            && s % FAIL_EVERY == FAIL_OFFSET
            && let Some(fargv) = fail_argvs.get(s / FAIL_EVERY)
        {
            let mut ptrs: Vec<*mut libc::c_char> = fargv.iter().map(|a| a.as_ptr().cast_mut()).collect();
            ptrs.push(std::ptr::null_mut());
            let mut pid: libc::pid_t = 0;
            // SAFETY: as for the regular spawn below.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    mpath.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    ptrs.as_ptr(),
                    envp.as_ptr(),
                )
            };
            o.fail_attempts.push((w, s));
            if rc != libc::ENOENT {
                o.fail_unexpected += 1;
                o.fail_example.get_or_insert_with(|| {
                    if rc == 0 {
                        "posix_spawn of the missing program succeeded".into()
                    } else {
                        format!("posix_spawn of the missing program: {}", io::Error::from_raw_os_error(rc))
                    }
                });
                if rc == 0 {
                    let _ = wait_child(pid);
                }
            }
        }
        let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        ptrs.push(std::ptr::null_mut());
        let mut pid: libc::pid_t = 0;
        // SAFETY: path, argv and envp are valid NUL-terminated arrays of
        // NUL-terminated strings that outlive the call; null file actions
        // and attributes are allowed.
        let rc = unsafe {
            libc::posix_spawn(&mut pid, path.as_ptr(), std::ptr::null(), std::ptr::null(), ptrs.as_ptr(), envp.as_ptr())
        };
        if rc != 0 {
            o.failures += 1;
            o.first_error.get_or_insert_with(|| format!("posix_spawn: {}", io::Error::from_raw_os_error(rc)));
            o.pids.push(0);
            continue;
        }
        match wait_child(pid) {
            Ok(status) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => {}
            Ok(status) => {
                o.failures += 1;
                o.first_error.get_or_insert_with(|| format!("noop ended with {}", describe_status(status)));
            }
            Err(e) => {
                o.failures += 1;
                o.first_error.get_or_insert(e);
            }
        }
        o.pids.push(pid);
    }
    o
}

pub(super) fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    }
}
