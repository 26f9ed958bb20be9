//! Typed methods on top of the byte ABI: requests and responses are serde
//! types, encoded with [`ENCODING`].
//!
//! The encoding is postcard (compact, non-self-describing binary serde):
//! host and plugin share the request and response types (an interface
//! crate), so self-description buys nothing, and postcard is both smaller
//! and faster than JSON for the small messages plugin calls carry (the
//! `typed-encoding` benchmark measures both). The plugin reports its
//! encoding in its info, and the host refuses a plugin that speaks another.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::plugin::{MethodInfo, PluginError, Response};

/// The encoding of typed requests and responses, as reported in a plugin's
/// info: postcard, format version 1.
pub const ENCODING: &str = "postcard-1";

/// Encodes `value` with [`ENCODING`].
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, PluginError> {
    postcard::to_allocvec(value).map_err(|e| PluginError::failed(format!("cannot encode: {e}")))
}

/// Encodes `value` with [`ENCODING`] into a response (also a plain
/// `Vec`'s, through [`Response::new`], which reuses its allocation).
pub fn encode_into<T: Serialize>(
    value: &T,
    response: &mut Response<'_>,
) -> Result<(), PluginError> {
    postcard::serialize_with_flavor(value, IntoResponse(response))
        .map_err(|e| PluginError::failed(format!("cannot encode: {e}")))
}

/// postcard's output straight into a response: a slice is copied whole
/// (postcard's `Extend` flavor would push it byte by byte).
struct IntoResponse<'r, 'a>(&'r mut Response<'a>);

impl postcard::ser_flavors::Flavor for IntoResponse<'_, '_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.extend_from_slice(&[data]);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Decodes a value encoded with [`ENCODING`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PluginError> {
    postcard::from_bytes(bytes)
        .map_err(|e| PluginError::bad_request(format!("cannot decode the request: {e}")))
}

/// Runs one typed handler: decodes the request, calls `handler`, encodes
/// its reply into `response`.
///
/// ```
/// use plugkit_sdk::{PluginError, Response, typed};
///
/// let request = plugkit_sdk::encode(&"world".to_string())?;
/// let mut buffer = Vec::new();
/// typed(&request, &mut Response::new(&mut buffer), |name: String| {
///     Ok::<_, PluginError>(format!("hello, {name}"))
/// })?;
/// let reply: String = plugkit_sdk::decode(&buffer)?;
/// assert_eq!(reply, "hello, world");
/// # Ok::<(), PluginError>(())
/// ```
pub fn typed<Req, Resp, F>(
    request: &[u8],
    response: &mut Response<'_>,
    handler: F,
) -> Result<(), PluginError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Result<Resp, PluginError>,
{
    let request = decode(request)?;
    let reply = handler(request)?;
    encode_into(&reply, response)
}

type Handler<P> =
    Box<dyn Fn(&P, &[u8], &mut Response<'_>) -> Result<(), PluginError> + Send + Sync>;

/// One registered method: what it is, and its handler for each encoding.
struct Entry<P> {
    info: MethodInfo,
    postcard: Handler<P>,
    json: Handler<P>,
}

/// Runs `handler` on a JSON request, writing a JSON reply.
fn json_call<Req, Resp>(
    request: &[u8],
    response: &mut Response<'_>,
    handler: impl FnOnce(Req) -> Result<Resp, PluginError>,
) -> Result<(), PluginError>
where
    Req: DeserializeOwned,
    Resp: Serialize,
{
    let request = serde_json::from_slice(request)
        .map_err(|e| PluginError::bad_request(format!("cannot decode the JSON request: {e}")))?;
    let reply = handler(request)?;
    serde_json::to_writer(response, &reply)
        .map_err(|e| PluginError::failed(format!("cannot encode the JSON reply: {e}")))
}

/// Typed methods registered by name, for a plugin of type `P`.
///
/// Each method is callable two ways: with its request encoded in
/// [`ENCODING`] (what Rust hosts with the interface crate use), and with
/// its request as JSON (what hosts without Rust types for the plugin use:
/// the `plugkit` command line, scripts). The table also lists the methods
/// with their types.
///
/// ```
/// use plugkit_sdk::{Methods, PluginError};
///
/// struct Greeter;
/// impl Greeter {
///     fn greet(&self, name: String) -> Result<String, PluginError> {
///         Ok(format!("hello, {name}"))
///     }
/// }
///
/// let methods = Methods::new().method("greet", Greeter::greet);
/// assert_eq!(methods.names().collect::<Vec<_>>(), ["greet"]);
/// ```
pub struct Methods<P> {
    handlers: BTreeMap<&'static str, Entry<P>>,
}

impl<P: 'static> Methods<P> {
    /// No methods yet.
    pub fn new() -> Self {
        Methods {
            handlers: BTreeMap::new(),
        }
    }

    /// Registers `handler` under `name` (a later registration of the same
    /// name replaces the earlier one).
    pub fn method<Req, Resp>(
        mut self,
        name: &'static str,
        handler: fn(&P, Req) -> Result<Resp, PluginError>,
    ) -> Self
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
    {
        let postcard: Handler<P> = Box::new(move |plugin, request, response| {
            typed(request, response, |request| handler(plugin, request))
        });
        let json: Handler<P> = Box::new(move |plugin, request, response| {
            json_call(request, response, |request| handler(plugin, request))
        });
        let info = MethodInfo::new(
            name,
            std::any::type_name::<Req>(),
            std::any::type_name::<Resp>(),
        );
        self.handlers.insert(
            name,
            Entry {
                info,
                postcard,
                json,
            },
        );
        self
    }

    fn entry(&self, method: &str) -> Result<&Entry<P>, PluginError> {
        self.handlers
            .get(method)
            .ok_or_else(|| PluginError::unknown_method(method))
    }

    /// Calls the method `method`, or fails with an unknown-method error.
    pub fn dispatch(
        &self,
        plugin: &P,
        method: &str,
        request: &[u8],
        response: &mut Response<'_>,
    ) -> Result<(), PluginError> {
        (self.entry(method)?.postcard)(plugin, request, response)
    }

    /// Calls the method `method` with a JSON request, writing its reply as
    /// JSON.
    ///
    /// ```
    /// use plugkit_sdk::{Methods, PluginError, Response};
    ///
    /// struct Greeter;
    /// impl Greeter {
    ///     fn greet(&self, name: String) -> Result<String, PluginError> {
    ///         Ok(format!("hello, {name}"))
    ///     }
    /// }
    ///
    /// let methods = Methods::new().method("greet", Greeter::greet);
    /// let mut reply = Vec::new();
    /// methods.dispatch_json(&Greeter, "greet", br#""Ada""#, &mut Response::new(&mut reply))?;
    /// assert_eq!(reply, br#""hello, Ada""#);
    /// # Ok::<(), PluginError>(())
    /// ```
    pub fn dispatch_json(
        &self,
        plugin: &P,
        method: &str,
        request: &[u8],
        response: &mut Response<'_>,
    ) -> Result<(), PluginError> {
        (self.entry(method)?.json)(plugin, request, response)
    }

    /// The registered method names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }

    /// The registered methods with their types, in name order.
    pub fn infos(&self) -> impl Iterator<Item = &MethodInfo> + '_ {
        self.handlers.values().map(|entry| &entry.info)
    }
}

impl<P: 'static> Default for Methods<P> {
    fn default() -> Self {
        Methods::new()
    }
}

impl<P> fmt::Debug for Methods<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}
