//! Names of error numbers: the `errno` field of JSON records for failed
//! exec attempts (`-x`), e.g. `ENOENT` for `ret` -2.
//!
//! This module owns the table from number to name. The numbers come from
//! the `libc` crate, so they are right for the architecture built for (they
//! differ on e.g. MIPS, SPARC and Alpha). It covers every errno Linux
//! defines for user space, which includes all that execve(2) and
//! execveat(2) return (E2BIG, EACCES, EAGAIN, EFAULT, EINVAL, EIO, EISDIR,
//! ELIBBAD, ELOOP, EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOEXEC, ENOMEM,
//! ENOTDIR, EPERM, ETXTBSY, EBADF, ...). Aliases (EWOULDBLOCK, EDEADLOCK,
//! ENOTSUP) are shown under their canonical names. A number not in the
//! table is written `E<number>`, e.g. `E4095`.

/// (number, name), in the kernel's order.
const TABLE: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EBADF, "EBADF"),
    (libc::ECHILD, "ECHILD"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::ENOTBLK, "ENOTBLK"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::EROFS, "EROFS"),
    (libc::EMLINK, "EMLINK"),
    (libc::EPIPE, "EPIPE"),
    (libc::EDOM, "EDOM"),
    (libc::ERANGE, "ERANGE"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENOMSG, "ENOMSG"),
    (libc::EIDRM, "EIDRM"),
    (libc::ECHRNG, "ECHRNG"),
    (libc::EL2NSYNC, "EL2NSYNC"),
    (libc::EL3HLT, "EL3HLT"),
    (libc::EL3RST, "EL3RST"),
    (libc::ELNRNG, "ELNRNG"),
    (libc::EUNATCH, "EUNATCH"),
    (libc::ENOCSI, "ENOCSI"),
    (libc::EL2HLT, "EL2HLT"),
    (libc::EBADE, "EBADE"),
    (libc::EBADR, "EBADR"),
    (libc::EXFULL, "EXFULL"),
    (libc::ENOANO, "ENOANO"),
    (libc::EBADRQC, "EBADRQC"),
    (libc::EBADSLT, "EBADSLT"),
    (libc::EBFONT, "EBFONT"),
    (libc::ENOSTR, "ENOSTR"),
    (libc::ENODATA, "ENODATA"),
    (libc::ETIME, "ETIME"),
    (libc::ENOSR, "ENOSR"),
    (libc::ENONET, "ENONET"),
    (libc::ENOPKG, "ENOPKG"),
    (libc::EREMOTE, "EREMOTE"),
    (libc::ENOLINK, "ENOLINK"),
    (libc::EADV, "EADV"),
    (libc::ESRMNT, "ESRMNT"),
    (libc::ECOMM, "ECOMM"),
    (libc::EPROTO, "EPROTO"),
    (libc::EMULTIHOP, "EMULTIHOP"),
    (libc::EDOTDOT, "EDOTDOT"),
    (libc::EBADMSG, "EBADMSG"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::ENOTUNIQ, "ENOTUNIQ"),
    (libc::EBADFD, "EBADFD"),
    (libc::EREMCHG, "EREMCHG"),
    (libc::ELIBACC, "ELIBACC"),
    (libc::ELIBBAD, "ELIBBAD"),
    (libc::ELIBSCN, "ELIBSCN"),
    (libc::ELIBMAX, "ELIBMAX"),
    (libc::ELIBEXEC, "ELIBEXEC"),
    (libc::EILSEQ, "EILSEQ"),
    (libc::ERESTART, "ERESTART"),
    (libc::ESTRPIPE, "ESTRPIPE"),
    (libc::EUSERS, "EUSERS"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EDESTADDRREQ, "EDESTADDRREQ"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EPFNOSUPPORT, "EPFNOSUPPORT"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ENETRESET, "ENETRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::EISCONN, "EISCONN"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ESHUTDOWN, "ESHUTDOWN"),
    (libc::ETOOMANYREFS, "ETOOMANYREFS"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTDOWN, "EHOSTDOWN"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EALREADY, "EALREADY"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::ESTALE, "ESTALE"),
    (libc::EUCLEAN, "EUCLEAN"),
    (libc::ENOTNAM, "ENOTNAM"),
    (libc::ENAVAIL, "ENAVAIL"),
    (libc::EISNAM, "EISNAM"),
    (libc::EREMOTEIO, "EREMOTEIO"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::ENOMEDIUM, "ENOMEDIUM"),
    (libc::EMEDIUMTYPE, "EMEDIUMTYPE"),
    (libc::ECANCELED, "ECANCELED"),
    (libc::ENOKEY, "ENOKEY"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED"),
    (libc::EKEYREVOKED, "EKEYREVOKED"),
    (libc::EKEYREJECTED, "EKEYREJECTED"),
    (libc::EOWNERDEAD, "EOWNERDEAD"),
    (libc::ENOTRECOVERABLE, "ENOTRECOVERABLE"),
    (libc::ERFKILL, "ERFKILL"),
    (libc::EHWPOISON, "EHWPOISON"),
];

/// The symbolic name of `errno` (positive), if Linux defines one.
pub fn name(errno: i32) -> Option<&'static str> {
    TABLE.iter().find(|&&(n, _)| n == errno).map(|&(_, s)| s)
}

/// Append the name of `errno` (positive) to `out`: its symbolic name, or
/// `E<number>` when it has none. Allocates nothing beyond `out`'s growth.
pub fn push_name(out: &mut Vec<u8>, errno: i32) {
    match name(errno) {
        Some(s) => out.extend_from_slice(s.as_bytes()),
        None => {
            out.push(b'E');
            crate::format::push_i64(out, errno.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(errno: i32) -> String {
        let mut v = Vec::new();
        push_name(&mut v, errno);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn exec_errnos_have_names() {
        assert_eq!(name(libc::ENOENT), Some("ENOENT"));
        assert_eq!(name(libc::EACCES), Some("EACCES"));
        assert_eq!(name(libc::ENOEXEC), Some("ENOEXEC"));
        assert_eq!(name(libc::E2BIG), Some("E2BIG"));
        assert_eq!(name(libc::ETXTBSY), Some("ETXTBSY"));
        assert_eq!(name(libc::ELOOP), Some("ELOOP"));
        assert_eq!(name(libc::ENAMETOOLONG), Some("ENAMETOOLONG"));
        assert_eq!(name(libc::ENOTDIR), Some("ENOTDIR"));
        assert_eq!(name(libc::EISDIR), Some("EISDIR"));
        assert_eq!(name(libc::ELIBBAD), Some("ELIBBAD"));
    }

    #[test]
    fn aliases_show_the_canonical_name() {
        assert_eq!(name(libc::EWOULDBLOCK), Some("EAGAIN"));
        assert_eq!(name(libc::ENOTSUP), Some("EOPNOTSUPP"));
        assert_eq!(name(libc::EDEADLOCK), Some("EDEADLK"));
    }

    #[test]
    fn numbers_and_names_are_unique() {
        let mut nums: Vec<i32> = TABLE.iter().map(|&(n, _)| n).collect();
        nums.sort_unstable();
        nums.dedup();
        assert_eq!(nums.len(), TABLE.len(), "a number listed twice");
        for &(n, s) in TABLE {
            assert!(n > 0 && s.starts_with('E'), "{n} {s}");
        }
    }

    #[test]
    fn unknown_numbers_are_spelled_out() {
        assert_eq!(pushed(libc::ENOENT), "ENOENT");
        assert_eq!(pushed(4095), "E4095");
        assert_eq!(pushed(0), "E0");
        assert_eq!(pushed(-7), "E-7");
        assert_eq!(pushed(i32::MIN), "E-2147483648");
        assert_eq!(name(4095), None);
    }
}
