//! Example plugin `kv-store` (exported from a `cdylib` by `kv-store-native`,
//! in `native/`, and served as a child process by this crate's binary): an
//! in-memory key-value store with typed `get` and `set`, safe to call from
//! many threads at once (its map is behind an `RwLock`, as the SDK's
//! concurrency contract asks).
//!
//! Built with the `v2` feature it is version 2.0.0 with the same methods
//! (what a hot swap that hands the store's state over needs); with
//! `v3-new-state-format` it is 3.0.0, whose state format no earlier version
//! writes (what a swap whose state is refused needs).
//!
//! ```
//! use kv_store_plugin::KvStore;
//! use plugkit_example_interface::{GetRequest, SetRequest};
//! use plugkit_sdk::{Plugin, Response};
//!
//! let store = KvStore::default();
//! let mut buffer = Vec::new();
//! let set = plugkit_sdk::encode(&SetRequest { key: "a".into(), value: "1".into() })?;
//! store.call("set", &set, &mut Response::new(&mut buffer))?;
//! let get = plugkit_sdk::encode(&GetRequest { key: "a".into() })?;
//! store.call("get", &get, &mut Response::new(&mut buffer))?;
//! assert_eq!(plugkit_sdk::decode::<Option<String>>(&buffer)?, Some("1".to_string()));
//! # Ok::<(), plugkit_sdk::PluginError>(())
//! ```
#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::RwLock;

use plugkit_example_interface::{GetRequest, SetRequest, methods};
use plugkit_sdk::{Methods, Plugin, PluginError, PluginInfo, State, Version};

/// This build's version: 1.4.1, 2.0.0 with the `v2` feature, 3.0.0 with
/// `v3-new-state-format`.
pub const VERSION: Version = if cfg!(feature = "v3-new-state-format") {
    Version::new(3, 0, 0)
} else if cfg!(feature = "v2") {
    Version::new(2, 0, 0)
} else {
    Version::new(1, 4, 1)
};

/// The key-value store plugin.
pub struct KvStore {
    methods: Methods<KvStore>,
    map: RwLock<HashMap<String, String>>,
}

impl Default for KvStore {
    fn default() -> Self {
        KvStore {
            methods: Methods::new()
                .method(methods::GET, KvStore::get)
                .method(methods::SET, KvStore::set),
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl KvStore {
    fn get(&self, request: GetRequest) -> Result<Option<String>, PluginError> {
        let map = self
            .map
            .read()
            .map_err(|_| PluginError::failed("the store is poisoned"))?;
        Ok(map.get(&request.key).cloned())
    }

    fn set(&self, request: SetRequest) -> Result<Option<String>, PluginError> {
        let mut map = self
            .map
            .write()
            .map_err(|_| PluginError::failed("the store is poisoned"))?;
        Ok(map.insert(request.key, request.value))
    }
}

/// The format of the state every version hands to the next across a hot
/// swap: the whole map, encoded with the SDK's encoding. Version 3.0.0
/// (`v3-new-state-format`) has a format of its own and reads no other, so a
/// swap to it from an earlier version is one whose state is refused.
pub const STATE_FORMAT: &str = if cfg!(feature = "v3-new-state-format") {
    "kv-store/2"
} else {
    "kv-store/1"
};

impl Plugin for KvStore {
    fn info(&self) -> PluginInfo {
        PluginInfo::new("kv-store", VERSION)
            .with_capabilities(["kv:get", "kv:set"])
            .with_state_format(STATE_FORMAT)
    }

    /// Every key, for the version that replaces this one.
    fn export_state(&self) -> Result<Option<State>, PluginError> {
        let map = self
            .map
            .read()
            .map_err(|_| PluginError::failed("the store is poisoned"))?;
        Ok(Some(State::new(STATE_FORMAT, plugkit_sdk::encode(&*map)?)))
    }

    /// Takes over the keys of the version this one replaces; refuses a
    /// format it does not know.
    fn import_state(&self, state: State) -> Result<(), PluginError> {
        if state.format != STATE_FORMAT {
            return Err(PluginError::bad_request(format!(
                "unknown state format `{}` (this version reads `{STATE_FORMAT}`)",
                state.format
            )));
        }
        let keys: HashMap<String, String> = plugkit_sdk::decode(&state.bytes)?;
        let mut map = self
            .map
            .write()
            .map_err(|_| PluginError::failed("the store is poisoned"))?;
        map.extend(keys);
        Ok(())
    }

    /// `call`, JSON calls and the method list all come from this table.
    fn methods(&self) -> Option<&Methods<Self>> {
        Some(&self.methods)
    }
}
