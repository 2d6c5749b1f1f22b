//! A synchronisation mode's name is the same on the command line, in traces and in `FromStr`.

use trace_format::SyncMode;

#[test]
fn every_mode_parses_from_the_name_it_is_written_under() {
    for mode in SyncMode::ALL {
        assert_eq!(mode.as_str().parse::<SyncMode>(), Ok(mode));
        // The serialized name (MessagePack string) is the same word.
        let bytes = rmp_serde::to_vec(&mode).unwrap();
        let word: String = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(word, mode.as_str());
    }
    let e = "fused".parse::<SyncMode>().unwrap_err();
    assert!(e.contains("`fused`") && e.contains("none, attributed, component or block"), "{e}");
}
