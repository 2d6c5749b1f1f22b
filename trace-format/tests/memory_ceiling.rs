//! Which memory ceiling a component is placed against: the cache's only where its bytes per call
//! fit in the last-level cache and the calibration measured the cache, never below DRAM's.

use trace_format::{memory_ceiling, Calibration};

const MIB: u64 = 1 << 20;

#[test]
fn the_cache_ceiling_applies_only_to_calls_that_fit_in_the_cache() {
    let (dram, cache, llc) = (10e9, 40e9, 32 * MIB);
    // Fits: the cache's rate.
    assert_eq!(memory_ceiling(dram, cache, llc, 1e6), Some(cache));
    assert_eq!(memory_ceiling(dram, cache, llc, (32 * MIB) as f64), Some(cache));
    // One byte past the cache, or no bytes recorded: DRAM's.
    assert_eq!(memory_ceiling(dram, cache, llc, (32 * MIB + 1) as f64), Some(dram));
    assert_eq!(memory_ceiling(dram, cache, llc, 0.0), Some(dram));
    // Not measured (a GPU, an unknown cache, an older trace): DRAM's, or none at all.
    assert_eq!(memory_ceiling(dram, 0.0, llc, 1e6), Some(dram));
    assert_eq!(memory_ceiling(dram, cache, 0, 1e6), Some(dram));
    assert_eq!(memory_ceiling(0.0, 0.0, 0, 1e6), None);
    assert_eq!(memory_ceiling(0.0, cache, llc, 1e6), Some(cache));
    // A cache pass slower than DRAM's (noise) never lowers the ceiling.
    assert_eq!(memory_ceiling(dram, 5e9, llc, 1e6), Some(dram));
}

#[test]
fn the_calibration_record_and_an_older_trace_agree() {
    let c = Calibration { bandwidth_bytes_per_s: 10e9, cache_bandwidth_bytes_per_s: 30e9, llc_bytes: MIB, ..Default::default() };
    assert_eq!(c.bandwidth_for(1000.0), Some(30e9));
    assert_eq!(c.bandwidth_for(2e6), Some(10e9));
    // A record written before the cache fields existed decodes with them zero: DRAM only.
    let old = Calibration { bandwidth_bytes_per_s: 10e9, ..Default::default() };
    let bytes = rmp_serde::to_vec_named(&old).unwrap();
    let back: Calibration = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, old);
    assert_eq!(back.bandwidth_for(1000.0), Some(10e9));
}
