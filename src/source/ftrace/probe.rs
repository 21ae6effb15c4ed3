//! The execve kprobe of the ftrace source (the original execsnoop's method):
//! its definitions for `kprobe_events` per architecture (the syscall
//! wrappers' register layout, user-memory fetches where the kernel has them),
//! the group names it gets from its instance, and the listing of
//! `kprobe_events` that finds a killed run's probes. Pure functions; the
//! instance ([`super::instance`]) writes them, and [`super::parse`] reads
//! the lines the probe prints.

use super::parse::instance_pid;

/// The kprobe group that goes with an instance name (`-` is not allowed in
/// group names).
pub fn probe_group(instance: &str) -> String {
    instance.replace('-', "_")
}

/// The pid in one of our probe group names (`execsnoop_<pid>[_<n>]`).
pub fn probe_group_pid(group: &str) -> Option<u32> {
    instance_pid(&group.replace('_', "-"))
}

/// `(group, event)` of each `p:group/event ...` line of `kprobe_events`.
pub fn kprobe_listing(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let def = l.split_whitespace().next()?;
            let name = def.split_once(':')?.1;
            let (group, event) = name.split_once('/')?;
            Some((group.to_string(), event.to_string()))
        })
        .collect()
}

/// An architecture whose syscall register layout we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this binary runs on, if we know its layout.
    pub fn current() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }
}

/// How the syscall's arguments reach the probed function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A syscall wrapper taking `struct pt_regs *` in the first argument
    /// register (x86_64 since Linux 4.17, arm64 since 4.19).
    Wrapper,
    /// The syscall's own arguments in the argument registers (older kernels).
    Direct,
}

/// Which exec syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// `execve(filename, argv, envp)`: argv is the second argument.
    Execve,
    /// `execveat(dirfd, filename, argv, envp, flags)`: argv is the third.
    Execveat,
}

impl Syscall {
    /// The probe's event name.
    pub fn event(self) -> &'static str {
        match self {
            Syscall::Execve => "execve",
            Syscall::Execveat => "execveat",
        }
    }
}

/// The kernel function to probe.
pub fn probe_symbol(arch: Arch, entry: Entry, call: Syscall) -> &'static str {
    match (arch, entry, call) {
        (Arch::X86_64, Entry::Wrapper, Syscall::Execve) => "__x64_sys_execve",
        (Arch::X86_64, Entry::Wrapper, Syscall::Execveat) => "__x64_sys_execveat",
        (Arch::Aarch64, Entry::Wrapper, Syscall::Execve) => "__arm64_sys_execve",
        (Arch::Aarch64, Entry::Wrapper, Syscall::Execveat) => "__arm64_sys_execveat",
        (_, Entry::Direct, Syscall::Execve) => "sys_execve",
        (_, Entry::Direct, Syscall::Execveat) => "sys_execveat",
    }
}

/// The fetch expression for the user's `argv` pointer at the probed entry.
/// x86_64 `struct pt_regs` is r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx
/// si di ..., 8 bytes each: `dx` at 0x60, `si` at 0x68. arm64's starts with
/// `regs[31]`: x1 at 8, x2 at 16.
pub fn argv_fetch(arch: Arch, entry: Entry, call: Syscall) -> &'static str {
    match (arch, entry, call) {
        (Arch::X86_64, Entry::Wrapper, Syscall::Execve) => "+0x68(%di)",
        (Arch::X86_64, Entry::Wrapper, Syscall::Execveat) => "+0x60(%di)",
        (Arch::X86_64, Entry::Direct, Syscall::Execve) => "%si",
        (Arch::X86_64, Entry::Direct, Syscall::Execveat) => "%dx",
        (Arch::Aarch64, Entry::Wrapper, Syscall::Execve) => "+8(%x0)",
        (Arch::Aarch64, Entry::Wrapper, Syscall::Execveat) => "+16(%x0)",
        (Arch::Aarch64, Entry::Direct, Syscall::Execve) => "%x1",
        (Arch::Aarch64, Entry::Direct, Syscall::Execveat) => "%x2",
    }
}

/// A kprobe definition for `kprobe_events` that fetches `argv[0..nargs]` as
/// strings (`arg0`..) and the pointers `argv[0..=nargs]` (`ptr0`..), the
/// last of which says whether argv goes on. `user_access`: the kernel has
/// user-memory fetches (`+u<off>(...)` and `ustring`, Linux 5.5+), which
/// architectures that separate user and kernel addresses need; older
/// kernels read user memory with the plain forms, as the original execsnoop
/// did.
pub fn probe_definition(
    group: &str,
    arch: Arch,
    entry: Entry,
    call: Syscall,
    nargs: usize,
    user_access: bool,
) -> String {
    let argv = argv_fetch(arch, entry, call);
    let (u, string) = if user_access { ("u", "ustring") } else { ("", "string") };
    let mut def = format!("p:{group}/{} {}", call.event(), probe_symbol(arch, entry, call));
    for i in 0..nargs {
        def.push_str(&format!(" arg{i}=+0(+{u}{}({argv})):{string}", i * 8));
    }
    for i in 0..=nargs {
        def.push_str(&format!(" ptr{i}=+{u}{}({argv}):u64", i * 8));
    }
    def
}

/// The event filter that drops the probe's lines with a newline in any of
/// the `nargs` arguments it fetches (`!(arg0 ~ "*\n*" || ...)`, the newline
/// raw between the quotes, as the kernel's filter parser takes it).
pub fn no_newline_filter(nargs: usize) -> String {
    let any: Vec<String> = (0..nargs).map(|i| format!("arg{i} ~ \"*\n*\"")).collect();
    format!("!({})", any.join(" || "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(probe_group("execsnoop-123-2"), "execsnoop_123_2");
        assert_eq!(probe_group_pid("execsnoop_123"), Some(123));
        assert_eq!(probe_group_pid("execsnoop_123_2"), Some(123));
        let listing =
            "p:execsnoop_12/execve __x64_sys_execve arg0=+0(+u0(+0x68(%di))):ustring\nr4:kprobes/myret do_exit\n";
        assert_eq!(
            kprobe_listing(listing),
            vec![("execsnoop_12".into(), "execve".into()), ("kprobes".into(), "myret".into())]
        );
    }

    #[test]
    fn probe_definitions_x86_64() {
        let d = probe_definition("execsnoop_9", Arch::X86_64, Entry::Wrapper, Syscall::Execve, 2, true);
        assert_eq!(
            d,
            "p:execsnoop_9/execve __x64_sys_execve arg0=+0(+u0(+0x68(%di))):ustring arg1=+0(+u8(+0x68(%di))):ustring \
             ptr0=+u0(+0x68(%di)):u64 ptr1=+u8(+0x68(%di)):u64 ptr2=+u16(+0x68(%di)):u64"
        );
        let d = probe_definition("g", Arch::X86_64, Entry::Wrapper, Syscall::Execveat, 1, true);
        assert_eq!(
            d,
            "p:g/execveat __x64_sys_execveat arg0=+0(+u0(+0x60(%di))):ustring ptr0=+u0(+0x60(%di)):u64 ptr1=+u8(+0x60(%di)):u64"
        );
        // The original execsnoop's form, for kernels before syscall wrappers
        // and before user-memory fetches.
        let d = probe_definition("g", Arch::X86_64, Entry::Direct, Syscall::Execve, 2, false);
        assert_eq!(
            d,
            "p:g/execve sys_execve arg0=+0(+0(%si)):string arg1=+0(+8(%si)):string ptr0=+0(%si):u64 ptr1=+8(%si):u64 ptr2=+16(%si):u64"
        );
        assert_eq!(argv_fetch(Arch::X86_64, Entry::Direct, Syscall::Execveat), "%dx");
    }

    #[test]
    fn newline_filter() {
        assert_eq!(no_newline_filter(2), "!(arg0 ~ \"*\n*\" || arg1 ~ \"*\n*\")");
        assert_eq!(no_newline_filter(16).matches('\n').count(), 16);
    }

    #[test]
    fn probe_definitions_arm64() {
        let d = probe_definition("g", Arch::Aarch64, Entry::Wrapper, Syscall::Execve, 1, true);
        assert_eq!(
            d,
            "p:g/execve __arm64_sys_execve arg0=+0(+u0(+8(%x0))):ustring ptr0=+u0(+8(%x0)):u64 ptr1=+u8(+8(%x0)):u64"
        );
        let d = probe_definition("g", Arch::Aarch64, Entry::Wrapper, Syscall::Execveat, 1, true);
        assert!(d.starts_with("p:g/execveat __arm64_sys_execveat arg0=+0(+u0(+16(%x0))):ustring "), "{d}");
        let d = probe_definition("g", Arch::Aarch64, Entry::Direct, Syscall::Execve, 1, false);
        assert_eq!(d, "p:g/execve sys_execve arg0=+0(+0(%x1)):string ptr0=+0(%x1):u64 ptr1=+8(%x1):u64");
        assert_eq!(argv_fetch(Arch::Aarch64, Entry::Direct, Syscall::Execveat), "%x2");
    }
}
