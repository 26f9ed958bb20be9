//! Turns one plugin artifact into a callable instance: native cdylibs and child processes.
//!
//! **Status: skeleton.** This crate holds its place in the workspace so the
//! dependency graph of DESIGN.md is real from the first commit; it exports
//! nothing yet. Its API arrives with the native-plugin and process-plugin issues (see ARCHITECTURE.md for the shape it
//! will take). Nothing here pretends to work.
#![deny(missing_docs)]
