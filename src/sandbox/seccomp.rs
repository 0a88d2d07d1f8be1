//! The seccomp layer: a small deny-list filter, compiled to BPF by libseccomp.
//!
//! The policy: another architecture's syscalls (i386 via `int 0x80`, x32 with
//! bit 30 set, a classic bypass of x86-64 deny-lists) → ENOSYS; listed
//! syscalls → EPERM; `socket` other than AF_UNIX → EPERM; `clone` with
//! namespace flags → EPERM; `clone3` → ENOSYS (glibc then falls back to
//! `clone`, checked above); signals aimed at the server → EPERM; everything
//! else allowed. Arguments the kernel reads as 32-bit `int`s are compared on
//! their low 32 bits only (a masked compare), so garbage in the upper half of
//! the register cannot slip past an equality test.

use libc::c_long;
use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

/// Namespace flags that `clone` must not carry (user, pid, net, mount, ...).
const CLONE_NS_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// "The low 32 bits of argument `arg` equal `value`."
fn low32_eq(arg: u32, value: u32) -> ScmpArgCompare {
    ScmpArgCompare::new(
        arg,
        ScmpCompareOp::MaskedEqual(0xffff_ffff),
        u64::from(value),
    )
}

/// Syscalls the run never needs and an escape would: leaving the process
/// group, inspecting other processes, kernel attack surface, namespaces.
fn denied() -> Vec<c_long> {
    use libc::*;
    let mut v = vec![
        SYS_setsid,
        SYS_setpgid,
        SYS_ptrace,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_mount,
        SYS_umount2,
        SYS_pivot_root,
        SYS_chroot,
        SYS_bpf,
        SYS_io_uring_setup,
        SYS_io_uring_enter,
        SYS_io_uring_register,
        SYS_unshare,
        SYS_setns,
        SYS_keyctl,
        SYS_add_key,
        SYS_request_key,
        SYS_perf_event_open,
        SYS_userfaultfd,
        SYS_kexec_load,
        SYS_kexec_file_load,
        SYS_init_module,
        SYS_finit_module,
        SYS_delete_module,
        SYS_swapon,
        SYS_swapoff,
        SYS_reboot,
        SYS_acct,
        SYS_quotactl,
        SYS_open_by_handle_at,
        SYS_name_to_handle_at,
        SYS_fsopen,
        SYS_fsmount,
        SYS_fsconfig,
        SYS_move_mount,
        SYS_open_tree,
        SYS_fspick,
        SYS_mount_setattr,
        SYS_pidfd_getfd,
        SYS_vhangup,
        SYS_process_madvise,
        SYS_fanotify_init,
        SYS_lookup_dcookie,
        SYS_personality,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([SYS_iopl, SYS_ioperm, SYS_modify_ldt]);
    v
}

/// Metadata changes Landlock does not govern, by path. Denied only when the
/// run shares the server's uid (no per-run uid): it could otherwise chmod
/// the server's own files (the database) out of reach. The same changes
/// through a file descriptor stay allowed when `fd_metadata` is set
/// (runner.py then opens the file first, so Landlock decides which files):
/// the helper sets it only when nothing the run may open belongs to the
/// server's uid (each run reads its own copy of the runner, and an
/// interpreter installed under the server's uid turns it off).
fn metadata_changes(fd_metadata: bool) -> Vec<c_long> {
    use libc::*;
    let mut v = vec![
        SYS_fchmodat,
        SYS_fchownat,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_fsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_fremovexattr,
    ];
    if !fd_metadata {
        v.extend([SYS_fchmod, SYS_fchown, SYS_utimensat]);
    }
    #[cfg(target_arch = "x86_64")]
    v.extend([
        SYS_chmod,
        SYS_chown,
        SYS_lchown,
        SYS_utime,
        SYS_utimes,
        SYS_futimesat,
    ]);
    // fchmodat2 (Linux 6.6), not in every libc release yet.
    v.push(452);
    v
}

/// Builds the filter. `server_pid` is protected from `kill`, `tgkill` and
/// `pidfd_open` even when Landlock signal scoping (ABI 6) is missing.
pub(crate) fn filter(
    server_pid: i32,
    same_uid_as_server: bool,
    fd_metadata: bool,
) -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
    let eperm = ScmpAction::Errno(libc::EPERM);
    let sys = |nr: c_long| ScmpSyscall::from(nr as i32);
    let mut f = ScmpFilterContext::new(ScmpAction::Allow)?;
    f.set_act_badarch(ScmpAction::Errno(libc::ENOSYS))?;
    let extra = if same_uid_as_server {
        metadata_changes(fd_metadata)
    } else {
        Vec::new()
    };
    for nr in denied().into_iter().chain(extra) {
        f.add_rule(eperm, sys(nr))?;
    }
    if same_uid_as_server && fd_metadata {
        // utimensat(fd, NULL, ...) (futimens) names a descriptor; with a
        // path it names a file Landlock never saw opened.
        let with_path = ScmpArgCompare::new(1, ScmpCompareOp::NotEqual, 0);
        f.add_rule_conditional(eperm, sys(libc::SYS_utimensat), &[with_path])?;
    }
    f.add_rule(ScmpAction::Errno(libc::ENOSYS), sys(libc::SYS_clone3))?;
    // `socket`'s domain is an int: any value but exactly AF_UNIX (upper bits
    // included) is refused, which can only refuse more.
    let not_unix = ScmpArgCompare::new(0, ScmpCompareOp::NotEqual, libc::AF_UNIX as u64);
    f.add_rule_conditional(eperm, sys(libc::SYS_socket), &[not_unix])?;
    for flag in CLONE_NS_FLAGS {
        let has = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(flag), flag);
        f.add_rule_conditional(eperm, sys(libc::SYS_clone), &[has])?;
    }
    // Terminal injection, should a tty ever be reachable.
    f.add_rule_conditional(
        eperm,
        sys(libc::SYS_ioctl),
        &[low32_eq(1, libc::TIOCSTI as u32)],
    )?;
    // Signals to the server, its process group, or everyone (-1).
    let pid = server_pid as u32;
    for target in [pid, pid.wrapping_neg(), u32::MAX] {
        f.add_rule_conditional(eperm, sys(libc::SYS_kill), &[low32_eq(0, target)])?;
    }
    for nr in [libc::SYS_tgkill, libc::SYS_tkill, libc::SYS_pidfd_open] {
        f.add_rule_conditional(eperm, sys(nr), &[low32_eq(0, pid)])?;
    }
    Ok(f)
}

/// Installs the filter on the calling (single) thread. Requires
/// `no_new_privs`, which the helper sets first.
pub(crate) fn install(
    server_pid: i32,
    same_uid_as_server: bool,
    fd_metadata: bool,
) -> std::io::Result<()> {
    filter(server_pid, same_uid_as_server, fd_metadata)
        .and_then(|f| f.load())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn filter_builds_for_both_modes() {
        for same_uid in [false, true] {
            for fd_metadata in [false, true] {
                super::filter(1234, same_uid, fd_metadata).expect("libseccomp accepts every rule");
            }
        }
    }
}
