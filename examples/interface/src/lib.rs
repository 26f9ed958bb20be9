//! The interface crate of the examples: request and response types shared
//! by the example host and the example plugins. Plugins and the host depend
//! on this crate and on `plugkit-sdk`, never on each other.
//!
//! ```
//! use plugkit_example_interface::{GreetRequest, methods};
//! let request = GreetRequest { name: "Ada".to_string() };
//! assert_eq!(methods::GREET, "greet");
//! # let _ = request;
//! ```
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// Method names.
pub mod methods {
    /// greeter: greet someone.
    pub const GREET: &str = "greet";
    /// kv-store: read a key.
    pub const GET: &str = "get";
    /// kv-store: write a key.
    pub const SET: &str = "set";
    /// front-desk: welcome a visitor.
    pub const WELCOME: &str = "welcome";
}

/// greeter's `greet` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreetRequest {
    /// Who to greet.
    pub name: String,
}

/// greeter's `greet` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreetReply {
    /// The greeting.
    pub text: String,
    /// The version of the greeter that answered.
    pub version: String,
}

/// kv-store's `get` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRequest {
    /// The key.
    pub key: String,
}

/// kv-store's `set` request; the reply is the previous value, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRequest {
    /// The key.
    pub key: String,
    /// The new value.
    pub value: String,
}

/// front-desk's `welcome` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeRequest {
    /// Who to welcome.
    pub name: String,
}

/// front-desk's `welcome` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeReply {
    /// The welcome.
    pub text: String,
}
