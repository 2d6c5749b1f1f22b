//! The order of the runs of one attribution round.

use crate::Role;

/// A plain reference forward after every this many duplicates, so that the reference mean, which
/// every component's cost is taken against, has several samples per round.
pub const REFERENCE_EVERY: usize = 4;

/// The runs of round `round` in order: a reference, the control and every target once, the
/// targets rotated by the round so that slow drift does not always fall on the same components,
/// with a reference after every [`REFERENCE_EVERY`] of them.
pub fn round(round: u32, targets: usize) -> Vec<Role> {
    let mut out = vec![Role::Reference, Role::Control];
    let offset = if targets == 0 { 0 } else { (round as usize * targets.div_ceil(3).max(1)) % targets };
    for i in 0..targets {
        out.push(Role::Duplicate((i + offset) % targets));
        if (i + 1) % REFERENCE_EVERY == 0 && i + 1 < targets {
            out.push(Role::Reference);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_once_with_references_between() {
        let r = super::round(1, 10);
        assert_eq!(r.len(), 2 + 10 + 2);
        for i in 0..10 {
            assert_eq!(r.iter().filter(|x| **x == crate::Role::Duplicate(i)).count(), 1);
        }
        // Rotated by ceil(10 / 3) = 4 in round 1.
        assert_eq!(r[2], crate::Role::Duplicate(4));
    }
}
