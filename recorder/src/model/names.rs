//! Component names of the event taxonomy: the format crate's [`trace_format::taxonomy`],
//! shared with the analyzer, re-exported under the recorder's own path.

pub use trace_format::taxonomy::{
    components, is_builtin, BLOCK, BLOCK_ALTERNATIVES, EMBED, FORWARD, GROUPS, GROUP_BLOCK, GROUP_EMBED, HEAD,
};
