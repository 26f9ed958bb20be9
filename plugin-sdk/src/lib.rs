//! What a plugin author depends on: the plugin trait, the stable ABI, the export macro and the process-plugin server.
//!
//! **Status: skeleton.** This crate holds its place in the workspace so the
//! dependency graph of DESIGN.md is real from the first commit; it exports
//! nothing yet. Its API arrives with the native-plugin and process-plugin issues (see ARCHITECTURE.md for the shape it
//! will take). Nothing here pretends to work.
#![deny(missing_docs)]
