//! What rlimits cannot bound without cgroups: the memory of the run as a
//! whole (RLIMIT_AS is per process, and a run may have many) and the disk
//! space of its scratch directory (RLIMIT_FSIZE is per file). A run that
//! lasts longer than a moment is measured a few times a second and killed
//! past its budget. Short runs (most of them) are never measured.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn pss(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))?
        .trim()
        .strip_suffix("kB")?;
    kb.trim().parse::<u64>().ok().map(|k| k * 1024)
}

/// Memory of every process in group `pgid` (proportional set size), in bytes.
pub(crate) fn group_memory(pgid: i32) -> u64 {
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after "(comm)": state ppid pgrp ... ; rss is field 24 overall.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let pgrp = fields.get(2).and_then(|s| s.parse::<i32>().ok());
        if pgrp == Some(pgid) {
            // PSS counts pages shared after fork once in total, not once per
            // process; fall back to RSS where smaps_rollup is unreadable.
            total += pss(pid).unwrap_or_else(|| {
                fields
                    .get(21)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    * page
            });
        }
    }
    total
}

/// Disk usage of a directory tree: (bytes allocated, entries). Stops
/// counting entries at `max_entries` so a tree of millions of tiny files
/// cannot make the measurement itself expensive.
pub(crate) fn tree_usage(root: &Path, max_entries: u64) -> (u64, u64) {
    let mut bytes = 0;
    let mut entries = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(list) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in list.flatten() {
            entries += 1;
            if entries > max_entries {
                return (bytes, entries);
            }
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            bytes += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    (bytes, entries)
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_this_process_group_and_a_tree() {
        let pgid = unsafe { libc::getpgid(0) };
        assert!(super::group_memory(pgid) > 0);
        let dir = std::env::temp_dir().join(format!("snakepit-watchdog-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("sub/f"), vec![1u8; 100_000]).expect("write");
        let (bytes, entries) = super::tree_usage(&dir, 1000);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(entries, 2);
        assert!(bytes >= 100_000);
    }
}
