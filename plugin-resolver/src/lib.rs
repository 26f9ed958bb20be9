//! PubGrub-based dependency resolution of plugins, load order and explanations.
//!
//! **Status: skeleton.** This crate holds its place in the workspace so the
//! dependency graph of DESIGN.md is real from the first commit; it exports
//! nothing yet. Its API arrives with the resolver issue (see ARCHITECTURE.md for the shape it
//! will take). Nothing here pretends to work.
#![deny(missing_docs)]
