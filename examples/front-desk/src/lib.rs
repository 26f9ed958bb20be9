//! Example plugin `front-desk`: one typed method, `welcome`. Its manifest
//! requires the greeter (`greeter >=1.0.0`), which requires the kv-store,
//! so the three example plugins form a dependency chain: front-desk →
//! greeter → kv-store. Hosts load it last and never while the greeter is
//! missing. This crate is the plugin's code; `front-desk-native` (in
//! `native/`) exports it from a `cdylib` and this crate's binary serves it
//! as a child process.
//!
//! ```
//! use front_desk_plugin::FrontDesk;
//! use plugkit_example_interface::{WelcomeReply, WelcomeRequest};
//! use plugkit_sdk::{Plugin, Response};
//!
//! let request = plugkit_sdk::encode(&WelcomeRequest { name: "Ada".into() })?;
//! let mut buffer = Vec::new();
//! FrontDesk::default().call("welcome", &request, &mut Response::new(&mut buffer))?;
//! let reply: WelcomeReply = plugkit_sdk::decode(&buffer)?;
//! assert_eq!(reply.text, "welcome, Ada");
//! # Ok::<(), plugkit_sdk::PluginError>(())
//! ```
#![deny(missing_docs)]

use plugkit_example_interface::{WelcomeReply, WelcomeRequest, methods};
use plugkit_sdk::{Methods, Plugin, PluginError, PluginInfo, Version};

/// This build's version.
pub const VERSION: Version = Version::new(1, 0, 0);

/// The front-desk plugin.
pub struct FrontDesk {
    methods: Methods<FrontDesk>,
}

impl Default for FrontDesk {
    fn default() -> Self {
        FrontDesk {
            methods: Methods::new().method(methods::WELCOME, FrontDesk::welcome),
        }
    }
}

impl FrontDesk {
    /// Welcomes `request.name` (what the `welcome` method runs).
    pub fn welcome(&self, request: WelcomeRequest) -> Result<WelcomeReply, PluginError> {
        if request.name.is_empty() {
            return Err(PluginError::bad_request("a name is required"));
        }
        Ok(WelcomeReply {
            text: format!("welcome, {}", request.name),
        })
    }
}

impl Plugin for FrontDesk {
    fn info(&self) -> PluginInfo {
        PluginInfo::new("front-desk", VERSION).with_capabilities(["welcome"])
    }

    /// `call`, JSON calls and the method list all come from this table.
    fn methods(&self) -> Option<&Methods<Self>> {
        Some(&self.methods)
    }
}
