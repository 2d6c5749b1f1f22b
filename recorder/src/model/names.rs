//! Component names of the event taxonomy: the format crate's [`trace_format::taxonomy`],
//! shared with the analyzer, re-exported under the recorder's own path.

pub(crate) use trace_format::taxonomy::{
    BLOCK, EMBED, FORWARD, GROUP_BLOCK, GROUP_EMBED, HEAD,
};
