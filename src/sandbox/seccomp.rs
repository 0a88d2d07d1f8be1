//! The seccomp layer: a small deny-list filter written as classic BPF by hand.
//!
//! Why not `seccompiler`: its filters carry one action each and key rules by
//! syscall number, so it cannot say "any x32 syscall" (numbers with bit 30
//! set, a classic bypass of x86-64 deny-lists) nor mix EPERM and ENOSYS
//! answers in one filter. The program below is short enough to read whole:
//! wrong architecture → kill; x32 → ENOSYS; listed syscalls → EPERM;
//! `socket` other than AF_UNIX → EPERM; `clone` with namespace flags → EPERM;
//! `clone3` → ENOSYS (glibc then falls back to `clone`, checked above);
//! signals aimed at the server → EPERM; everything else allowed.

use libc::{c_long, sock_filter, sock_fprog};

/// BPF_LD | BPF_W | BPF_ABS (LD and W are 0).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument 0 (little-endian).
const OFF_ARG0: u32 = 16;
/// Low 32 bits of argument 1.
const OFF_ARG1: u32 = 24;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Namespace flags that `clone` must not carry (user, pid, net, mount, ...).
const CLONE_NS_MASK: u32 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

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

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn errno(e: i32) -> sock_filter {
    stmt(BPF_RET_K, RET_ERRNO | (e as u32 & 0xffff))
}

/// "If arg `off` of syscall `nr` equals `value`, fail with EPERM."
fn deny_arg_eq(p: &mut Vec<sock_filter>, nr: c_long, off: u32, value: u32) {
    p.push(jump(BPF_JEQ_K, nr as u32, 0, 4));
    p.push(stmt(BPF_LD_W_ABS, off));
    p.push(jump(BPF_JEQ_K, value, 0, 1));
    p.push(errno(libc::EPERM));
    p.push(stmt(BPF_LD_W_ABS, OFF_NR));
}

/// Builds the filter. `server_pid` is protected from `kill`, `tgkill` and
/// `pidfd_open` even when Landlock signal scoping (ABI 6) is missing.
/// Metadata changes Landlock does not govern. Denied only when the run
/// shares the server's uid (no per-run uid): it could otherwise chmod the
/// server's own files (the database, runner.py) out of reach. The cost:
/// `os.chmod`, `os.utime` and `shutil.copy2` fail in that mode.
fn metadata_changes() -> Vec<c_long> {
    use libc::*;
    let mut v = vec![
        SYS_fchmod,
        SYS_fchmodat,
        SYS_fchown,
        SYS_fchownat,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_fsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_fremovexattr,
    ];
    v.push(SYS_utimensat);
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

pub(crate) fn program(server_pid: i32, same_uid_as_server: bool) -> Vec<sock_filter> {
    let mut p = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        p.push(jump(BPF_JGE_K, 0x4000_0000, 0, 1));
        p.push(errno(libc::ENOSYS));
    }
    let extra = if same_uid_as_server {
        metadata_changes()
    } else {
        Vec::new()
    };
    for nr in denied().into_iter().chain(extra) {
        p.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        p.push(errno(libc::EPERM));
    }
    p.push(jump(BPF_JEQ_K, libc::SYS_clone3 as u32, 0, 1));
    p.push(errno(libc::ENOSYS));
    // socket(domain != AF_UNIX) → EPERM.
    p.push(jump(BPF_JEQ_K, libc::SYS_socket as u32, 0, 4));
    p.push(stmt(BPF_LD_W_ABS, OFF_ARG0));
    p.push(jump(BPF_JEQ_K, libc::AF_UNIX as u32, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
    p.push(errno(libc::EPERM));
    // clone(flags & namespaces) → EPERM.
    p.push(jump(BPF_JEQ_K, libc::SYS_clone as u32, 0, 4));
    p.push(stmt(BPF_LD_W_ABS, OFF_ARG0));
    p.push(jump(BPF_JSET_K, CLONE_NS_MASK, 0, 1));
    p.push(errno(libc::EPERM));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
    // Terminal injection, should a tty ever be reachable.
    deny_arg_eq(&mut p, libc::SYS_ioctl, OFF_ARG1, libc::TIOCSTI as u32);
    // Signals to the server, its process group, or everyone (-1).
    let pid = server_pid as u32;
    for target in [pid, pid.wrapping_neg(), u32::MAX] {
        deny_arg_eq(&mut p, libc::SYS_kill, OFF_ARG0, target);
    }
    deny_arg_eq(&mut p, libc::SYS_tgkill, OFF_ARG0, pid);
    deny_arg_eq(&mut p, libc::SYS_tkill, OFF_ARG0, pid);
    deny_arg_eq(&mut p, libc::SYS_pidfd_open, OFF_ARG0, pid);
    p.push(stmt(BPF_RET_K, RET_ALLOW));
    p
}

/// Installs the filter on the calling (single) thread. Requires
/// `no_new_privs`, which the helper sets first.
pub(crate) fn install(server_pid: i32, same_uid_as_server: bool) -> std::io::Result<()> {
    let mut prog = program(server_pid, same_uid_as_server);
    let fprog = sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| std::io::Error::other("filter too long"))?,
        filter: prog.as_mut_ptr(),
    };
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &fprog as *const sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn program_fits_and_jumps_stay_inside() {
        let p = super::program(1234, true);
        assert!(p.len() < 4096);
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + usize::from(ins.jt.max(ins.jf)) < p.len());
            }
        }
        assert_eq!(p.last().map(|i| i.k), Some(super::RET_ALLOW));
    }
}
