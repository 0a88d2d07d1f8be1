//! Fixed-window attempt counters for login, sign-up and shares, keyed per username,
//! address, or (username, address) pair.
//!
//! An attempt is *reserved* before the expensive work ([`Limiter::acquire`]), in the same
//! lock as the check, so concurrent requests cannot all pass a check that only counts them
//! afterwards. Memory is bounded: keys are stored as 16-byte BLAKE3 digests (a huge
//! username costs no more than a short one) and the table holds at most `capacity`
//! entries, expired ones dropped first, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries a limiter keeps at most (about 40 bytes each, so a few MB at worst).
pub const DEFAULT_CAPACITY: usize = 100_000;

type Key = [u8; 16];

fn key_of(key: &str) -> Key {
    let hash = blake3::hash(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.as_bytes()[..16]);
    out
}

/// At most `max` counted events per key in any `window`.
pub struct Limiter {
    max: u32,
    window: Duration,
    capacity: usize,
    counts: Mutex<HashMap<Key, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_capacity(max, window, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max,
            window,
            capacity: capacity.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, u32)>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds until the window of an entry started at `start` ends (at least 1).
    fn wait(&self, start: Instant) -> u64 {
        self.window.saturating_sub(start.elapsed()).as_secs().max(1)
    }

    /// `Err(seconds to wait)` when `key` has used up its window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let counts = self.lock();
        match counts.get(&key_of(key)) {
            Some(&(start, n)) if n >= self.max && start.elapsed() < self.window => {
                Err(self.wait(start))
            }
            _ => Ok(()),
        }
    }

    /// Checks and counts one event for `key` at once: `Err(seconds to wait)` when the
    /// window is used up (nothing is counted then). Give the attempt back with
    /// [`Limiter::release`] when it should not count after all.
    pub fn acquire(&self, key: &str) -> Result<(), u64> {
        let mut counts = self.lock();
        let key = key_of(key);
        if let Some(&(start, n)) = counts.get(&key) {
            if start.elapsed() < self.window && n >= self.max {
                return Err(self.wait(start));
            }
        }
        self.make_room(&mut counts, &key);
        let entry = counts.entry(key).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back one attempt counted by [`Limiter::acquire`].
    pub fn release(&self, key: &str) {
        let mut counts = self.lock();
        let key = key_of(key);
        if let Some(entry) = counts.get_mut(&key) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                counts.remove(&key);
            }
        }
    }

    /// Counts one event for `key` (even past the limit).
    pub fn hit(&self, key: &str) {
        let mut counts = self.lock();
        let key = key_of(key);
        self.make_room(&mut counts, &key);
        let entry = counts.entry(key).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    pub fn reset(&self, key: &str) {
        self.lock().remove(&key_of(key));
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before inserting `key`: when the table is full, drop expired entries, and if it is
    /// still full, the oldest tenth (those windows are the nearest to ending anyway).
    fn make_room(&self, counts: &mut HashMap<Key, (Instant, u32)>, key: &Key) {
        if counts.len() < self.capacity || counts.contains_key(key) {
            return;
        }
        let window = self.window;
        counts.retain(|_, (start, _)| start.elapsed() < window);
        if counts.len() < self.capacity {
            return;
        }
        let mut starts: Vec<Instant> = counts.values().map(|(s, _)| *s).collect();
        let drop = (self.capacity / 10).max(1).min(starts.len() - 1);
        let (_, cut, _) = starts.select_nth_unstable(drop);
        let cut = *cut;
        counts.retain(|_, (start, _)| *start > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_hits_until_reset() {
        let l = Limiter::new(2, Duration::from_secs(60));
        assert!(l.check("a").is_ok());
        l.hit("a");
        l.hit("a");
        assert!(l.check("a").is_err());
        assert!(l.check("b").is_ok(), "keys are independent");
        l.reset("a");
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn acquire_reserves_and_release_gives_back() {
        let l = Limiter::new(2, Duration::from_secs(60));
        assert!(l.acquire("a").is_ok());
        assert!(l.acquire("a").is_ok());
        assert!(l.acquire("a").is_err(), "the third attempt is refused");
        l.release("a");
        assert!(
            l.acquire("a").is_ok(),
            "a released attempt can be used again"
        );
    }

    #[test]
    fn concurrent_acquires_never_pass_the_limit() {
        let l = std::sync::Arc::new(Limiter::new(10, Duration::from_secs(60)));
        let passed: usize = (0..45)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || l.acquire("victim").is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(passed, 10);
    }

    #[test]
    fn keys_and_entries_are_bounded() {
        let l = Limiter::with_capacity(5, Duration::from_secs(60), 1000);
        let huge = "x".repeat(10_000);
        for i in 0..10_000 {
            l.hit(&format!("{huge}{i}"));
        }
        assert!(l.len() <= 1000, "{} entries", l.len());
        // The newest keys are kept.
        for _ in 0..5 {
            l.hit("newest");
        }
        assert!(l.check("newest").is_err());
    }

    #[test]
    fn expired_entries_are_dropped_first() {
        let l = Limiter::with_capacity(1, Duration::from_millis(1), 10);
        for i in 0..10 {
            l.hit(&i.to_string());
        }
        std::thread::sleep(Duration::from_millis(5));
        l.hit("fresh");
        assert_eq!(l.len(), 1);
    }
}
