//! Finding the interpreter. When the server runs as root, every run gets its own
//! unprivileged uid, so the interpreter must be reachable by "others": a pyenv install
//! under `/root` (mode 0700) is not. A bare name (the default `python3`) therefore
//! resolves to the first match on `PATH` that such a uid can execute.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The interpreter to use for `name`: paths are taken as given; bare names are looked up
/// on `PATH`, preferring a match every user can run when the server is root.
pub fn find_python(name: &Path) -> PathBuf {
    if name.components().count() > 1 {
        return name.to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates: Vec<PathBuf> = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .collect();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let pick = if root {
        candidates.iter().find(|p| runnable_by_others(p))
    } else {
        None
    };
    pick.or(candidates.first())
        .cloned()
        .unwrap_or_else(|| name.to_path_buf())
}

/// Every directory on the way is searchable, and the file (after symlinks) executable, by others.
fn runnable_by_others(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let others_may =
        |p: &Path, bit: u32| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & bit != 0);
    others_may(&real, 0o001) && real.ancestors().skip(1).all(|dir| others_may(dir, 0o001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_paths_are_kept() {
        assert_eq!(
            find_python(Path::new("/opt/py/bin/python3")),
            PathBuf::from("/opt/py/bin/python3")
        );
    }

    #[test]
    fn bare_names_resolve_on_path() {
        let found = find_python(Path::new("sh"));
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
        assert!(runnable_by_others(&found));
    }
}
