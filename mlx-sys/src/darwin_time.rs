//! `mach_approximate_time` for non-Apple targets.
//!
//! mlx-rs seeds its default random state from this Darwin function (through the mach-sys crate).
//! Elsewhere we export a function of the same name returning monotonic nanoseconds, which is all
//! mlx-rs needs from it: a seed that changes between calls.

#[cfg(not(target_vendor = "apple"))]
#[no_mangle]
pub extern "C" fn mach_approximate_time() -> u64 {
    use std::sync::OnceLock;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};
    static START: OnceLock<(Instant, u64)> = OnceLock::new();
    let (start, wall) = START.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        (Instant::now(), wall)
    });
    wall.wrapping_add(start.elapsed().as_nanos() as u64)
}
