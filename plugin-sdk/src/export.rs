//! The plugin side of the native ABI: what [`export_plugin!`] expands to.
//!
//! Each loaded library image holds one plugin instance in a static
//! [`Slot`]: the host copies a library to a unique path before opening it,
//! so every load (every version, every reload) is a separate image with
//! its own slot. Every `extern "C"` entry point runs the plugin inside
//! `catch_unwind`: a panic becomes an [`ErrorKind::Panicked`] error naming
//! the method, never an unwind across the ABI (which would abort the host).
//! A plugin built with `panic = "abort"` cannot be protected this way; its
//! panic ends the host process.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};

use crate::abi::{
    FfiError, FfiHealth, FfiInfo, FfiInitContext, FfiMethod, FfiState, PluginModule,
    PluginModuleRef,
};
use crate::plugin::{ErrorKind, InitContext, Logger, Plugin, PluginError, Response};

/// Exports a [`Plugin`] from a `cdylib` as a plugkit native plugin.
///
/// `export_plugin!(MyPlugin)` builds the instance with `Default`;
/// `export_plugin!(MyPlugin, MyPlugin::new)` with a function of no
/// arguments. Use it once per library, at the crate root. The plugin type
/// may come from another crate: keeping the plugin's code in an ordinary
/// library and the `cdylib` as a package of its own around this one line
/// avoids cargo's unhashed `cdylib` outputs being shared by feature
/// variants (see ARCHITECTURE.md, `examples/`).
///
/// ```
/// use plugkit_sdk::{Plugin, PluginError, PluginInfo, Response, Version};
///
/// #[derive(Default)]
/// struct Echo;
///
/// impl Plugin for Echo {
///     fn info(&self) -> PluginInfo {
///         PluginInfo::new("echo", Version::new(0, 1, 0))
///     }
///     fn call(&self, _method: &str, request: &[u8], response: &mut Response<'_>) -> Result<(), PluginError> {
///         response.extend_from_slice(request);
///         Ok(())
///     }
/// }
///
/// // At the root of a crate with `crate-type = ["cdylib"]`:
/// plugkit_sdk::export_plugin!(Echo);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::export_plugin!($plugin, <$plugin as ::core::default::Default>::default);
    };
    ($plugin:ty, $make:expr) => {
        /// The exported plugin, as the SDK's entry points see it (a local
        /// type, so the plugin's own type may come from another crate).
        struct __PlugkitExport;

        impl $crate::__private::Exported for __PlugkitExport {
            type Plugin = $plugin;
            fn slot() -> &'static $crate::__private::Slot<$plugin> {
                static SLOT: $crate::__private::Slot<$plugin> = $crate::__private::Slot::new($make);
                &SLOT
            }
        }

        /// The abi_stable library header of this plugin (what the host looks up).
        #[allow(unsafe_code, non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader:
            $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn root_module() -> $crate::__private::abi_stable::library::RootModuleResult
            {
                $crate::__private::abi_stable::library::__call_root_module_loader(
                    $crate::__private::module::<__PlugkitExport>,
                )
            }
            // SAFETY: the constructor returns the root module of type
            // `PluginModuleRef`, the type named here, as abi_stable's own
            // `export_root_module` attribute arranges it.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::abi::PluginModuleRef,
                >(
                    root_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// Where a library keeps its plugin instance: built lazily (for `info`),
/// moved to `ready` by a successful `init`, closed for good by `shutdown`.
pub struct Slot<P> {
    pending: Mutex<Option<P>>,
    ready: OnceLock<P>,
    /// Set by the first `shutdown`: the plugin's `shutdown` has run (or is
    /// running) and no call reaches the plugin any more.
    stopped: AtomicBool,
    make: fn() -> P,
}

impl<P> Slot<P> {
    /// A slot that builds its instance with `make`.
    pub const fn new(make: fn() -> P) -> Self {
        Slot {
            pending: Mutex::new(None),
            ready: OnceLock::new(),
            stopped: AtomicBool::new(false),
            make,
        }
    }
}

/// Implemented by [`export_plugin!`] on a marker type of the plugin's
/// crate (a local type, so the plugin type itself may be foreign).
pub trait Exported {
    /// The exported plugin.
    type Plugin: Plugin;
    /// The library's slot.
    fn slot() -> &'static Slot<Self::Plugin>;
}

/// The root module for `P` (called once per library image by abi_stable).
pub fn module<E: Exported>() -> PluginModuleRef {
    PluginModule {
        info: info::<E>,
        init: init::<E>,
        call: call::<E>,
        call_json: call_json::<E>,
        methods: methods::<E>,
        export_state: export_state::<E>,
        import_state: import_state::<E>,
        health: health::<E>,
        shutdown: shutdown::<E>,
    }
    .leak_into_prefix()
}

/// Runs `f`, turning a panic into an error that names what panicked.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(error)) => RResult::RErr(error.into()),
        Err(payload) => RResult::RErr(
            PluginError::new(
                ErrorKind::Panicked,
                format!("panicked in {what}: {}", panic_message(payload.as_ref())),
            )
            .into(),
        ),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text panic payload")
}

/// Runs `f` on the instance, wherever it is (ready, or pending and built on demand).
fn with_instance<E: Exported, T>(f: impl FnOnce(&E::Plugin) -> T) -> Result<T, PluginError> {
    let slot = E::slot();
    if let Some(plugin) = slot.ready.get() {
        return Ok(f(plugin));
    }
    let mut pending = slot
        .pending
        .lock()
        .map_err(|_| PluginError::failed("the plugin's state was poisoned by an earlier panic"))?;
    Ok(f(pending.get_or_insert_with(slot.make)))
}

/// The initialized plugin, unless it is not initialized yet or shut down.
fn ready<E: Exported>() -> Result<&'static E::Plugin, PluginError> {
    let slot = E::slot();
    if slot.stopped.load(Ordering::Acquire) {
        return Err(PluginError::new(
            ErrorKind::Stopped,
            "the plugin is shut down",
        ));
    }
    slot.ready
        .get()
        .ok_or_else(|| PluginError::new(ErrorKind::NotInitialized, "the plugin is not initialized"))
}

extern "C" fn info<E: Exported>() -> RResult<FfiInfo, FfiError> {
    guarded("info", || {
        let info = with_instance::<E, _>(|plugin| plugin.info())?;
        Ok(FfiInfo {
            name: RString::from(info.name),
            version: RString::from(info.version.to_string()),
            capabilities: info.capabilities.into_iter().map(RString::from).collect(),
            sdk_version: RString::from(crate::SDK_VERSION),
            encoding: RString::from(crate::ENCODING),
            state_format: info.state_format.map(RString::from).into(),
        })
    })
}

extern "C" fn init<E: Exported>(context: FfiInitContext<'_>) -> RResult<(), FfiError> {
    guarded("init", || {
        let slot = E::slot();
        if slot.ready.get().is_some() {
            return Err(PluginError::failed("the plugin is already initialized"));
        }
        let taken = slot
            .pending
            .lock()
            .map_err(|_| {
                PluginError::failed("the plugin's state was poisoned by an earlier panic")
            })?
            .take();
        let mut plugin = taken.unwrap_or_else(slot.make);
        let logger = Logger::new(plugin.info().name, context.log);
        plugin.init(&InitContext::new(context.config_json.as_str(), logger))?;
        slot.ready
            .set(plugin)
            .map_err(|_| PluginError::failed("the plugin was initialized twice at once"))
    })
}

extern "C" fn call<E: Exported>(
    method: RStr<'_>,
    request: RSlice<'_, u8>,
    response: &mut RVec<u8>,
) -> RResult<(), FfiError> {
    let method = method.as_str();
    guarded(method, || {
        ready::<E>()?.call(method, request.as_slice(), &mut Response::native(response))
    })
}

extern "C" fn call_json<E: Exported>(
    method: RStr<'_>,
    request: RSlice<'_, u8>,
    response: &mut RVec<u8>,
) -> RResult<(), FfiError> {
    let method = method.as_str();
    guarded(method, || {
        let plugin = ready::<E>()?;
        let methods = plugin.methods().ok_or_else(no_typed_methods)?;
        methods.dispatch_json(
            plugin,
            method,
            request.as_slice(),
            &mut Response::native(response),
        )
    })
}

/// Why a plugin without a [`Methods`](crate::Methods) table answers no JSON call.
pub(crate) fn no_typed_methods() -> PluginError {
    PluginError::unknown_method_because(
        "the plugin registers no typed methods, so it answers no JSON calls",
    )
}

extern "C" fn methods<E: Exported>() -> RResult<RVec<FfiMethod>, FfiError> {
    guarded("methods", || {
        let plugin = with_instance::<E, _>(|plugin| {
            plugin
                .methods()
                .map(|methods| methods.infos().map(FfiMethod::from).collect())
                .unwrap_or_default()
        })?;
        Ok(plugin)
    })
}

extern "C" fn export_state<E: Exported>() -> RResult<ROption<FfiState>, FfiError> {
    guarded("export_state", || {
        Ok(ready::<E>()?.export_state()?.map(FfiState::from).into())
    })
}

extern "C" fn import_state<E: Exported>(
    format: RStr<'_>,
    bytes: RSlice<'_, u8>,
) -> RResult<(), FfiError> {
    guarded("import_state", || {
        ready::<E>()?.import_state(crate::plugin::State::new(
            format.as_str(),
            bytes.as_slice().to_vec(),
        ))
    })
}

extern "C" fn health<E: Exported>() -> RResult<FfiHealth, FfiError> {
    guarded("health", || Ok(ready::<E>()?.health().into()))
}

/// Runs the plugin's `shutdown` once: the first call closes the slot (no
/// call reaches the plugin afterwards) and runs it; later calls do nothing.
extern "C" fn shutdown<E: Exported>() -> RResult<(), FfiError> {
    guarded("shutdown", || {
        let slot = E::slot();
        if slot.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(plugin) = slot.ready.get() {
            plugin.shutdown();
        }
        Ok(())
    })
}
