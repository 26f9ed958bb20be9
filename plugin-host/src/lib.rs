//! The lifecycle of many plugins over time: loading in dependency order, hot swap, rollback and events.
//!
//! **Status: skeleton.** This crate holds its place in the workspace so the
//! workspace's dependency graph is real from the first commit; it exports
//! nothing yet. Its API arrives with the host issue (see ARCHITECTURE.md for the shape it
//! will take). Nothing here pretends to work.
#![deny(missing_docs)]
