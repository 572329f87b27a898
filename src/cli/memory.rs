//! How the process asks the C allocator for memory.
//!
//! glibc gives a thread that meets contention its own arena, up to eight per core, and memory
//! freed into one arena is not reused by another: the tokio workers and the HTTP clients' threads
//! all allocate, so the resident set grows with the thread count. Two arenas keep the peak a few
//! MiB lower at 1,000 apps (benches/RESULTS.md) at no measurable cost in speed.

/// Limits glibc to two arenas unless `MALLOC_ARENA_MAX` already says how many. Call before any
/// thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only tunes the allocator; it is called while the process has one thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Other C libraries (musl, macOS) have no per-thread arenas to limit.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
