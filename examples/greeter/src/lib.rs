//! Example plugin `greeter`: one typed method, `greet`. This crate is the
//! plugin's code; `greeter-native` (in `native/`) exports it from a `cdylib`
//! and this crate's binary serves it as a child process.
//!
//! Built with the `v2` feature it is version 2.0.0 and greets differently,
//! so tests can load both versions side by side and tell them apart. Two
//! more features build the bad version 3.0.0 that hosts must refuse or roll
//! back: `v3-panics-in-init` panics in `init`, `v3-unhealthy` loads and
//! answers but reports [`Health::Unhealthy`]. `cargo xtask example-plugins`
//! builds every variant and lays each out as a plugin directory.
//!
//! ```
//! use greeter_plugin::Greeter;
//! use plugkit_example_interface::{GreetReply, GreetRequest};
//! use plugkit_sdk::{Plugin, Response};
//!
//! let request = plugkit_sdk::encode(&GreetRequest { name: "Ada".into() })?;
//! let mut buffer = Vec::new();
//! Greeter::default().call("greet", &request, &mut Response::new(&mut buffer))?;
//! let reply: GreetReply = plugkit_sdk::decode(&buffer)?;
//! assert!(reply.text.contains("Ada"));
//! # Ok::<(), plugkit_sdk::PluginError>(())
//! ```
#![deny(missing_docs)]

use plugkit_example_interface::{GreetReply, GreetRequest, methods};
use plugkit_sdk::{Health, InitContext, Methods, Plugin, PluginError, PluginInfo, Version};

/// Whether this is one of the bad 3.0.0 builds.
const V3: bool = cfg!(any(feature = "v3-panics-in-init", feature = "v3-unhealthy"));

/// This build's version: 1.0.0, 2.0.0 (`v2`) or 3.0.0 (a bad variant).
pub const VERSION: Version = if V3 {
    Version::new(3, 0, 0)
} else if cfg!(feature = "v2") {
    Version::new(2, 0, 0)
} else {
    Version::new(1, 0, 0)
};

/// This build's greeting word: "hello" (1.0.0), "hi" (2.0.0), "hey" (3.0.0).
pub const GREETING: &str = if V3 {
    "hey"
} else if cfg!(feature = "v2") {
    "hi"
} else {
    "hello"
};

/// The greeter plugin.
pub struct Greeter {
    methods: Methods<Greeter>,
    greeting: String,
}

impl Default for Greeter {
    fn default() -> Self {
        Greeter {
            methods: Methods::new().method(methods::GREET, Greeter::greet),
            greeting: GREETING.to_string(),
        }
    }
}

impl Greeter {
    /// Greets `request.name` (what the `greet` method runs).
    pub fn greet(&self, request: GreetRequest) -> Result<GreetReply, PluginError> {
        if request.name.is_empty() {
            return Err(PluginError::bad_request("a name is required"));
        }
        Ok(GreetReply {
            text: format!("{}, {}", self.greeting, request.name),
            version: VERSION.to_string(),
        })
    }
}

impl Plugin for Greeter {
    fn info(&self) -> PluginInfo {
        PluginInfo::new("greeter", VERSION).with_capabilities(["greet"])
    }

    /// The manifest's `metadata.greeting`, if set, replaces the greeting word.
    /// The `v3-panics-in-init` build panics here.
    fn init(&mut self, context: &InitContext<'_>) -> Result<(), PluginError> {
        if cfg!(feature = "v3-panics-in-init") {
            panic!("greeter {VERSION} panics in init (built with feature v3-panics-in-init)");
        }
        #[derive(serde::Deserialize)]
        struct Config {
            greeting: Option<String>,
        }
        let config: Config = context.config()?;
        if let Some(greeting) = config.greeting {
            self.greeting = greeting;
        }
        context.logger().info("greeter ready");
        Ok(())
    }

    /// `call`, JSON calls and the method list all come from this table.
    fn methods(&self) -> Option<&Methods<Self>> {
        Some(&self.methods)
    }

    /// Healthy, but for the `v3-unhealthy` build.
    fn health(&self) -> Health {
        if cfg!(feature = "v3-unhealthy") {
            Health::Unhealthy(format!(
                "greeter {VERSION} is unhealthy (built with feature v3-unhealthy)"
            ))
        } else {
            Health::Healthy
        }
    }
}
