//! Tests that read the recorder library's internals: the model against naive and Python
//! references, the variants against the baseline, in-process recordings and the attribution.
//! The tests of the public API and of the binary are in `recorder/tests/`.

pub(crate) mod common;

mod attribution;
mod builtin_api;
mod block_reference;
mod python_block;
mod recording;
mod variants;

#[test]
fn build_locations_are_removed_from_mlx_messages() {
    let m = "[load_safetensors] Invalid json header at /home/ci/mlx/mlx/io/safetensors.cpp:120 and more";
    assert_eq!(crate::clean_mlx_message(m), "[load_safetensors] Invalid json header and more");
    let m = "[malloc] Unable to allocate 8 bytes. at /b/mlx/c/array.cpp:9";
    assert_eq!(crate::clean_mlx_message(m), "[malloc] Unable to allocate 8 bytes.");
    // Not a location: kept.
    assert_eq!(crate::clean_mlx_message("look at /tmp/x for details"), "look at /tmp/x for details");
}
