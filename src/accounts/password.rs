//! argon2id password hashes (the RustCrypto defaults: 19 MiB, 2 passes), computed off the
//! async runtime, at most one per two cores at a time, in reused memory.
//!
//! Each argon2 computation needs its whole memory cost at once. Allocating 19 MiB per
//! attempt let a burst of failed logins grow the process by hundreds of MB that the
//! allocator kept afterwards; here the memory is mapped for the job, reused while more
//! work waits and unmapped when hashing goes idle, so hashing never holds more than
//! `permits × 19 MiB`, however many requests arrive, and nothing after. Requests wait for
//! a permit in a bounded queue; past it they get 503 with `Retry-After` at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::Error;

/// Length limits, in characters (Unicode scalar values), not bytes.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

/// Requests allowed to wait for a hashing permit; more are refused with 503.
const QUEUE: usize = 64;
/// Largest memory cost accepted from a stored hash (KiB), so a tampered row cannot make
/// the server allocate without bound.
const MAX_M_COST: u32 = 64 * 1024;

/// One permit per two cores (at least 1, at most 4): argon2 is pure CPU; the other
/// cores stay free for pages even while logins flood in.
fn permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4))
}

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(permits()));
/// Requests holding or waiting for a permit.
static PENDING: AtomicUsize = AtomicUsize::new(0);
/// Working memory kept for reuse while hashing is busy, at most one per permit; dropped
/// (returned to the system) when the last pending request is done.
static BUFFERS: Mutex<Vec<Memory>> = Mutex::new(Vec::new());

/// The most common passwords (and their obvious variants), refused at sign-up.
static COMMON: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// A hash of a password nobody has, verified against when the
/// username is unknown so that a wrong username takes as long as a wrong password.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_now("not a real password").unwrap_or_default());

/// Checks a new password: length in characters, not blank, not a common password.
pub fn validate(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Error::Unprocessable(format!(
            "the password needs at least {MIN_LEN} characters"
        )));
    }
    if n > MAX_LEN {
        return Err(Error::Unprocessable(format!(
            "the password may have at most {MAX_LEN} characters"
        )));
    }
    if password.trim().is_empty() {
        return Err(Error::Unprocessable(
            "the password cannot be only spaces".into(),
        ));
    }
    if is_common(password) {
        return Err(Error::Unprocessable(
            "this password is one of the most common ones, which attackers try first; choose another"
                .into(),
        ));
    }
    Ok(())
}

/// Whether `password` is on the common-password list (case-insensitively), or is a single
/// character repeated.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return true;
    }
    COMMON.contains(lower.as_str())
}

fn hash_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("hashing a password: {e}"))
}

/// argon2 of `password` with `salt`, in pooled working memory.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &argon2::password_hash::Salt<'_>,
) -> Result<Output, Error> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(hash_error)?;
    let len = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    with_memory(argon2.params().block_count(), |memory| {
        Output::init_with(len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *memory)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(hash_error)
    })
}

/// argon2's working memory: anonymous pages mapped for it and unmapped when dropped, so
/// they go back to the system at once (a 19 MiB `Vec` freed to the allocator may stay
/// resident in one of its per-thread arenas).
struct Memory {
    ptr: std::ptr::NonNull<Block>,
    len: usize,
}

// SAFETY: `Memory` owns its mapping exclusively, like a `Box<[Block]>`.
unsafe impl Send for Memory {}

impl Memory {
    fn new(len: usize) -> Result<Self, Error> {
        let bytes = len * std::mem::size_of::<Block>();
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(hash_error(std::io::Error::last_os_error()));
        }
        let ptr = std::ptr::NonNull::new(ptr.cast::<Block>())
            .ok_or_else(|| hash_error("mmap returned null"))?;
        Ok(Self { ptr, len })
    }

    fn blocks(&mut self, n: usize) -> &mut [Block] {
        // SAFETY: the mapping holds `len` page-aligned (so 64-byte aligned) blocks,
        // zero-filled by the kernel, and an all-zero `Block` is valid.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len.min(n)) }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe {
            libc::munmap(
                self.ptr.as_ptr().cast(),
                self.len * std::mem::size_of::<Block>(),
            );
        }
    }
}

/// Runs `f` with working memory of `blocks` blocks from the pool, and puts it back.
fn with_memory<T>(
    blocks: usize,
    f: impl FnOnce(&mut [Block]) -> Result<T, Error>,
) -> Result<T, Error> {
    let pooled = BUFFERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .filter(|m| m.len >= blocks);
    let mut memory = match pooled {
        Some(m) => m,
        None => Memory::new(blocks)?,
    };
    let out = f(memory.blocks(blocks));
    let mut buffers = BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    if buffers.len() < permits() {
        buffers.push(memory);
    }
    out
}

fn hash_now(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = Argon2::default();
    let output = compute(&argon2, password.as_bytes(), &salt.as_salt())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2.params().try_into().map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm) else {
        return false;
    };
    let version = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&phc)) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST {
        return false;
    }
    let argon2 = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    compute(&argon2, password.as_bytes(), &salt).is_ok_and(|computed| computed == expected)
}

/// Counts a request as pending while it lives.
struct Pending;

impl Drop for Pending {
    fn drop(&mut self) {
        if PENDING.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Idle again: give the working memory back.
            BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

/// Runs argon2 work `f` on the blocking pool once a permit is free; 503 when too many
/// requests already wait.
async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    let _pending = Pending;
    if PENDING.fetch_add(1, Ordering::AcqRel) >= permits() + QUEUE {
        return Err(Error::Busy(
            "the server is busy checking passwords; try again in a few seconds".into(),
            2,
        ));
    }
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The PHC string of an argon2id hash of `password`.
pub async fn hash(password: String) -> Result<String, Error> {
    run(move || hash_now(&password)).await?
}

/// Whether `password` matches `hash`; with no hash (unknown user) it spends the same time
/// and says no. 503 when the hashing queue is full.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, Error> {
    run(move || match hash {
        Some(h) => verify_now(&password, &h),
        None => {
            verify_now(&password, &DUMMY);
            false
        }
    })
    .await
}

/// Blocking variant for the `snakepit user` commands.
pub fn hash_blocking(password: &str) -> Result<String, Error> {
    hash_now(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_match_the_argon2_crate() {
        let h = hash_now("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_now("correct horse", &h));
        assert!(!verify_now("correct horsf", &h));
        // A hash made by the crate's own API verifies here, and ours there.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now("battery staple", &theirs));
        let ours = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &ours)
                .is_ok()
        );
    }

    #[test]
    fn length_counts_characters_and_common_passwords_are_refused() {
        assert!(validate("ééééééé").is_err(), "7 characters, 14 bytes");
        assert!(validate("éééééééb").is_ok(), "8 characters");
        assert!(
            validate(&"é".repeat(600)).is_err(),
            "one character repeated"
        );
        let long: String = "ab€".repeat(341); // 1023 characters, 1705 bytes
        assert!(validate(&long).is_ok(), "1023 characters are allowed");
        assert!(validate(&format!("{long}cd")).is_err(), "1025 are not");
        for weak in [
            "password",
            "12345678",
            "        ",
            "PassWord1",
            "qwertyuiop",
        ] {
            assert!(validate(weak).is_err(), "{weak:?} is refused");
        }
        assert!(validate("correct horse").is_ok());
    }
}
