//! The process-plugin protocol: how a host and a plugin running as a child
//! process talk over the child's stdin (host → plugin) and stdout (plugin →
//! host). The child's stderr is its log: one line per record, forwarded by
//! the host to `tracing` under the plugin's name (a line may start with the
//! level in brackets, `[warn] disk almost full`).
//!
//! # Framing
//!
//! The plugin's stdout starts with the 8 bytes [`MAGIC`] (`PLUGKIT1`), so a
//! child that prints anything else is recognised at once. After that, in
//! both directions, every message is a frame: a 4-byte little-endian length,
//! then that many bytes of one message encoded with postcard. A frame longer
//! than the reader's limit (default [`DEFAULT_MAX_FRAME`], 16 MiB) is a
//! protocol error: the reader refuses it before allocating.
//!
//! # Messages (protocol version [`PROTOCOL_VERSION`])
//!
//! | direction | message | fields | when |
//! |---|---|---|---|
//! | plugin → host | [`FromPlugin::Hello`] | `protocol`, `name`, `version`, `capabilities`, `sdk_version`, `encoding`, `state_format` | first, right after the magic |
//! | host → plugin | [`ToPlugin::Init`] | `config_json` | once the host accepted the hello |
//! | plugin → host | [`FromPlugin::Ready`] / [`FromPlugin::InitFailed`] | — / `error` | after `init` ran |
//! | host → plugin | [`ToPlugin::Call`] | `id`, `method`, `payload` | any time after `Ready`, many in flight |
//! | host → plugin | [`ToPlugin::CallJson`] | `id`, `method`, `payload` (JSON) | as `Call`, for a typed method called with JSON |
//! | plugin → host | [`FromPlugin::Reply`] | `id`, `result` (payload or [`PluginError`]) | in any order |
//! | host → plugin | [`ToPlugin::Health`] | `id` | any time after `Ready` |
//! | plugin → host | [`FromPlugin::Health`] | `id`, `health` ([`Health`] or [`PluginError`]) | |
//! | host → plugin | [`ToPlugin::Methods`] | `id` | any time after `Ready` |
//! | plugin → host | [`FromPlugin::Methods`] | `id`, `methods` ([`MethodInfo`]s) | |
//! | host → plugin | [`ToPlugin::ExportState`] | `id` | a hot swap moves the state; no call runs |
//! | plugin → host | [`FromPlugin::State`] | `id`, `result` (a [`State`] or none, or [`PluginError`]) | |
//! | host → plugin | [`ToPlugin::ImportState`] | `id`, `state` | before the new version takes calls |
//! | plugin → host | [`FromPlugin::Reply`] | `id`, `result` (empty, or the refusal) | |
//! | host → plugin | [`ToPlugin::Shutdown`] | — | the host is done |
//! | plugin → host | [`FromPlugin::Bye`] | — | calls drained, `shutdown` ran; the child then exits 0 |
//!
//! Errors travel as [`PluginError`] (its [`ErrorKind`](crate::ErrorKind) is
//! the same enum the native ABI uses) and health as [`Health`]: one type
//! each, encoded by serde, so no transport has an encoding of its own.
//!
//! # The call lane (protocol 4)
//!
//! One pipe carries every call, so a plugin must read it on one thread and
//! hand each call to another (a slow call must not hold up the next): two
//! thread hand-offs per call, each a context switch, where a pipe echo
//! costs one. The call lane removes them for the common case of one call
//! at a time. The host creates a second pipe, leaves its read end open
//! across `exec` and names it in the environment
//! ([`CALL_LANE_ENV`]`=FD`). A plugin that reads it says so with
//! `protocol: 4` in its hello (one that does not says 3, and the host never
//! uses the lane); it reads the lane on a thread of its own and runs each
//! call there, on the thread that read it, replying on stdout as usual.
//! The host sends a `Call` or `CallJson` on the lane only while the lane's
//! previous call is answered (today: only a call made while no other is
//! in flight), and only as one atomic pipe write (at most
//! [`CALL_LANE_MAX_FRAME`] bytes), so a call on the lane never waits
//! behind another and a frame is never half-written; every other message
//! and call goes on stdin. The host closes the lane when it sends
//! `Shutdown` (the plugin's lane reader then ends); anything but a call on
//! the lane is a protocol error (exit status 2).
//!
//! Handshake rules: the host refuses a plugin whose `protocol` is outside
//! [`SUPPORTED_PROTOCOLS`] (naming both versions), whose `name`/`version`
//! differ from its manifest, or whose `encoding` is not
//! [`ENCODING`](crate::ENCODING); a plugin that receives an unknown message
//! or an oversized frame exits with status 2. Ids are chosen by the host and
//! unique among its calls in flight; a late reply to a call the host gave up
//! on (timeout) is ignored.
//!
//! # Versions
//!
//! postcard is not self-describing, so any change to a message (a field, a
//! variant, an enum such as [`ErrorKind`](crate::ErrorKind)) changes the
//! bytes on the wire and bumps [`PROTOCOL_VERSION`]. A host accepts the
//! versions in [`SUPPORTED_PROTOCOLS`]; see the SDK's
//! [compatibility policy](crate#compatibility). History: 1, the first
//! protocol; 2, JSON calls, method listings, typed error kinds and health;
//! 3, state hand-over (`state_format` in the hello, `ExportState`,
//! `ImportState`, `State`); 4, the call lane (the messages are those of 3).

use std::io::{self, Read, Write};
use std::ops::RangeInclusive;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::plugin::{Health, MethodInfo, PluginError, State};

/// The first 8 bytes a process plugin writes to stdout.
pub const MAGIC: [u8; 8] = *b"PLUGKIT1";

/// The protocol version this SDK speaks (a plugin that does not read the
/// call lane, having been offered none, says 3: the messages are the same).
pub const PROTOCOL_VERSION: u32 = 4;

/// The first protocol version with the [call lane](self#the-call-lane-protocol-4).
pub const CALL_LANE_PROTOCOL: u32 = 4;

/// The environment variable through which a host offers the call lane:
/// the number of an inherited file descriptor, the read end of a pipe.
pub const CALL_LANE_ENV: &str = "PLUGKIT_CALL_LANE_FD";

/// The name of the plugin's thread that reads the call lane and runs the
/// calls it brings (what a profiler or `thread::current()` shows).
pub const CALL_LANE_THREAD: &str = "plugkit-call-lane";

/// The largest frame a host sends on the call lane: what one pipe write
/// moves whole (POSIX's `PIPE_BUF` on Linux); larger calls go on stdin.
pub const CALL_LANE_MAX_FRAME: usize = 4096;

/// The protocol versions a host built with this SDK accepts from a plugin.
pub const SUPPORTED_PROTOCOLS: RangeInclusive<u32> = 3..=PROTOCOL_VERSION;

/// The default largest frame, in bytes (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Host → plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ToPlugin {
    /// Initialize with this configuration (the manifest's metadata as JSON).
    Init {
        /// Configuration.
        config_json: String,
    },
    /// One call.
    Call {
        /// Chosen by the host; the reply carries it.
        id: u64,
        /// The method.
        method: String,
        /// The request bytes.
        payload: Vec<u8>,
    },
    /// One call of a typed method, with its request as JSON; the reply is
    /// JSON too.
    CallJson {
        /// Chosen by the host; the reply carries it.
        id: u64,
        /// The method.
        method: String,
        /// The request, as JSON text.
        payload: Vec<u8>,
    },
    /// A health check.
    Health {
        /// Chosen by the host; the reply carries it.
        id: u64,
    },
    /// List the plugin's typed methods.
    Methods {
        /// Chosen by the host; the reply carries it.
        id: u64,
    },
    /// Hand the state over (a hot swap; no call runs or will come).
    ExportState {
        /// Chosen by the host; the reply carries it.
        id: u64,
    },
    /// Take over a predecessor's state (answered with a `Reply`).
    ImportState {
        /// Chosen by the host; the reply carries it.
        id: u64,
        /// The state.
        state: State,
    },
    /// Finish the calls in flight, shut down, say `Bye` and exit.
    Shutdown,
}

/// Plugin → host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FromPlugin {
    /// Who the plugin is; the first message.
    Hello {
        /// The protocol version the plugin speaks.
        protocol: u32,
        /// The plugin's name.
        name: String,
        /// The plugin's version.
        version: String,
        /// Its capabilities.
        capabilities: Vec<String>,
        /// The plugkit-sdk version it was built with.
        sdk_version: String,
        /// Its typed-call encoding.
        encoding: String,
        /// The format of the state it hands over across a hot swap, if any.
        state_format: Option<String>,
    },
    /// `init` succeeded; calls may come.
    Ready,
    /// `init` failed; the child exits.
    InitFailed {
        /// Why.
        error: PluginError,
    },
    /// The answer to a call.
    Reply {
        /// The call's id.
        id: u64,
        /// The response bytes, or the error.
        result: Result<Vec<u8>, PluginError>,
    },
    /// The answer to a health check.
    Health {
        /// The check's id.
        id: u64,
        /// The plugin's health, or the error of a check that failed (a
        /// panic in `health`, a plugin shut down).
        health: Result<Health, PluginError>,
    },
    /// The answer to [`ToPlugin::Methods`].
    Methods {
        /// The request's id.
        id: u64,
        /// The typed methods (empty when the plugin registers none).
        methods: Vec<MethodInfo>,
    },
    /// The answer to [`ToPlugin::ExportState`].
    State {
        /// The request's id.
        id: u64,
        /// The state (none when there is none), or why not.
        result: Result<Option<State>, PluginError>,
    },
    /// Shut down; the child exits next.
    Bye,
}

/// A call as its frame holds it ([`ToPlugin::Call`] or
/// [`ToPlugin::CallJson`]): decoding borrows the method and payload from
/// the frame, and encoding borrows them from the caller, so neither copies
/// them. The bytes are exactly those of the owned messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRef<'a> {
    /// Chosen by the host; the reply carries it.
    pub id: u64,
    /// The method.
    pub method: &'a str,
    /// The request bytes (JSON text for a JSON call).
    pub payload: &'a [u8],
    /// A [`ToPlugin::CallJson`].
    pub json: bool,
}

/// postcard writes an enum's variant index as a varint (one byte below
/// 128), then the variant's fields as a struct's: these are the indices
/// of the messages [`CallRef`] and [`encode_reply`] stand for (a test
/// keeps them equal to the owned messages' bytes).
const CALL_VARIANT: u8 = 1;
const CALL_JSON_VARIANT: u8 = 2;
const REPLY_VARIANT: u8 = 3;

/// Bytes written as postcard writes a `Vec<u8>` (a length, then the bytes).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
struct CallFields<'a> {
    id: u64,
    method: &'a str,
    payload: Bytes<'a>,
}

#[derive(Deserialize)]
struct BorrowedCallFields<'a> {
    id: u64,
    method: &'a str,
    payload: &'a [u8],
}

#[derive(Serialize)]
struct ReplyFields<'a> {
    id: u64,
    result: Result<Bytes<'a>, &'a PluginError>,
}

impl<'a> CallRef<'a> {
    /// The call in a frame's payload, or `None` when the message is not a
    /// call (decode it as a [`ToPlugin`]).
    pub fn decode(payload: &'a [u8]) -> io::Result<Option<CallRef<'a>>> {
        let json = match payload.first() {
            Some(&CALL_VARIANT) => false,
            Some(&CALL_JSON_VARIANT) => true,
            _ => return Ok(None),
        };
        let fields: BorrowedCallFields<'a> = postcard::from_bytes(&payload[1..]).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("malformed frame: {e}"))
        })?;
        Ok(Some(CallRef {
            id: fields.id,
            method: fields.method,
            payload: fields.payload,
            json,
        }))
    }

    /// Encodes the call as a frame (length prefix included), appended to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let variant = if self.json {
            CALL_JSON_VARIANT
        } else {
            CALL_VARIANT
        };
        let fields = CallFields {
            id: self.id,
            method: self.method,
            payload: Bytes(self.payload),
        };
        encode_variant(variant, &fields, out)
    }
}

/// Encodes a [`FromPlugin::Reply`] with `result` borrowed (no copy of the
/// response bytes), appended to `out` as a frame.
pub fn encode_reply(
    id: u64,
    result: Result<&[u8], &PluginError>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let fields = ReplyFields {
        id,
        result: result.map(Bytes),
    };
    encode_variant(REPLY_VARIANT, &fields, out)
}

/// One frame of an enum variant: its index, then its fields.
fn encode_variant<T: Serialize>(variant: u8, fields: &T, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(variant);
    *out = postcard::to_extend(fields, std::mem::take(out))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    finish_frame(out, start)
}

/// Writes the length prefix of the frame that starts at `start`.
fn finish_frame(out: &mut [u8], start: usize) -> io::Result<()> {
    let length = u32::try_from(out.len() - start - 4)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a frame is larger than 4 GiB"))?;
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    Ok(())
}

/// Reads one frame's payload into `buffer` (blocking), replacing what it
/// held; `Ok(false)` at a clean end of stream. The buffer's allocation is
/// reused from frame to frame.
pub fn read_frame_into(
    reader: &mut impl Read,
    max_frame: usize,
    buffer: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let length = check_frame_length(u32::from_le_bytes(length), max_frame)?;
    buffer.clear();
    buffer.reserve(length);
    let read = reader.take(length as u64).read_to_end(buffer)?;
    if read < length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the stream ended inside a frame",
        ));
    }
    Ok(true)
}

/// Encodes one message as a frame (length prefix included), appended to `out`.
pub fn encode_frame<T: Serialize>(message: &T, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    *out = postcard::to_extend(message, std::mem::take(out))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    finish_frame(out, start)
}

/// Checks a frame's announced length against the limit.
pub fn check_frame_length(length: u32, max_frame: usize) -> io::Result<usize> {
    let length = length as usize;
    if length > max_frame {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes exceeds the limit of {max_frame} bytes"),
        ));
    }
    Ok(length)
}

/// Decodes one message from a frame's payload.
pub fn decode_message<T: DeserializeOwned>(payload: &[u8]) -> io::Result<T> {
    postcard::from_bytes(payload)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("malformed frame: {e}")))
}

/// Reads one frame (blocking); `Ok(None)` at a clean end of stream.
pub fn read_frame<T: DeserializeOwned>(
    reader: &mut impl Read,
    max_frame: usize,
) -> io::Result<Option<T>> {
    let mut payload = Vec::new();
    if !read_frame_into(reader, max_frame, &mut payload)? {
        return Ok(None);
    }
    decode_message(&payload).map(Some)
}

/// Writes one frame (blocking) and flushes.
pub fn write_frame<T: Serialize>(writer: &mut impl Write, message: &T) -> io::Result<()> {
    let mut frame = Vec::new();
    encode_frame(message, &mut frame)?;
    writer.write_all(&frame)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let message = ToPlugin::Call {
            id: 7,
            method: "greet".into(),
            payload: vec![1, 2, 3],
        };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &message).expect("in memory");
        let mut reader = bytes.as_slice();
        assert_eq!(
            read_frame::<ToPlugin>(&mut reader, 1024).expect("reads"),
            Some(message)
        );
        assert_eq!(
            read_frame::<ToPlugin>(&mut reader, 1024).expect("end"),
            None
        );
    }

    #[test]
    fn borrowed_calls_and_replies_are_the_owned_messages_bytes() {
        for json in [false, true] {
            let call = CallRef {
                id: 300,
                method: "greet",
                payload: &[0, 1, 2, 255],
                json,
            };
            let owned = if json {
                ToPlugin::CallJson {
                    id: 300,
                    method: "greet".into(),
                    payload: vec![0, 1, 2, 255],
                }
            } else {
                ToPlugin::Call {
                    id: 300,
                    method: "greet".into(),
                    payload: vec![0, 1, 2, 255],
                }
            };
            let (mut borrowed, mut expected) = (Vec::new(), Vec::new());
            call.encode(&mut borrowed).expect("encodes");
            encode_frame(&owned, &mut expected).expect("encodes");
            assert_eq!(borrowed, expected);
            assert_eq!(
                CallRef::decode(&expected[4..]).expect("decodes"),
                Some(call)
            );
        }
        let error = PluginError::new(crate::ErrorKind::Failed, "no");
        for (borrowed, owned) in [
            (Ok(&[7u8, 8][..]), Ok(vec![7u8, 8])),
            (Err(&error), Err(error.clone())),
        ] {
            let (mut bytes, mut expected) = (Vec::new(), Vec::new());
            encode_reply(u64::MAX, borrowed, &mut bytes).expect("encodes");
            let reply = FromPlugin::Reply {
                id: u64::MAX,
                result: owned,
            };
            encode_frame(&reply, &mut expected).expect("encodes");
            assert_eq!(bytes, expected);
        }
        // Not a call: decode it as a message.
        let mut health = Vec::new();
        encode_frame(&ToPlugin::Health { id: 1 }, &mut health).expect("encodes");
        assert_eq!(CallRef::decode(&health[4..]).expect("not an error"), None);
    }

    #[test]
    fn a_stream_that_ends_inside_a_frame_is_an_error() {
        let mut bytes = Vec::new();
        encode_frame(&ToPlugin::Health { id: 1 }, &mut bytes).expect("encodes");
        bytes.pop();
        let mut buffer = Vec::new();
        let error = read_frame_into(&mut bytes.as_slice(), 1024, &mut buffer).expect_err("cut");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"xx");
        let error =
            read_frame::<ToPlugin>(&mut huge.as_slice(), DEFAULT_MAX_FRAME).expect_err("too big");
        assert!(error.to_string().contains("exceeds the limit"), "{error}");

        let mut garbage = 3u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xff, 0xff, 0xff]);
        let error = read_frame::<ToPlugin>(&mut garbage.as_slice(), DEFAULT_MAX_FRAME)
            .expect_err("malformed");
        assert!(error.to_string().contains("malformed frame"), "{error}");
    }
}
