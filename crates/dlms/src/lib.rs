//! DLMS/COSEM without I/O: the encodings, framings and cryptography a DLMS client (metermaster's
//! meter reader) and a DLMS server (the simulated meter) share.
//!
//! Everything here is pure: values in, bytes out, and bytes in, typed values or typed errors out.
//! No decoder panics on any input; each failure is a [`DecodeError`] naming what was being
//! decoded, what is wrong and the byte offset. The reference for every number and byte string is
//! the project's implementation guide (`shared/protocols/dlms-cosem.md`, cited as "guide §n"), and
//! the unit tests reproduce its worked examples and test vectors byte for byte.
//!
//! # Modules
//!
//! * [`axdr`]: the A-XDR [`axdr::Data`] value with every type tag of guide §4.1 (compact
//!   arrays included), the length encoding of §4.2, a nesting limit
//!   ([`DEFAULT_MAX_DEPTH`](axdr::DEFAULT_MAX_DEPTH)) against hostile input, and
//!   [`CosemDateTime`](axdr::CosemDateTime) / [`CosemDate`](axdr::CosemDate) /
//!   [`CosemTime`](axdr::CosemTime) with wildcards, deviation, clock status and chrono
//!   conversions.
//! * [`obis`]: the six-dotted-group OBIS form (`1.0.99.1.0.255`) on top of the model's
//!   [`ObisCode`](metermaster_model::ObisCode), the unit table of §6.2
//!   ([`DlmsUnit`](obis::DlmsUnit)), and [`ScalerUnit`](obis::ScalerUnit), which turns a register
//!   value into an exact [`Quantity`](metermaster_model::Quantity).
//! * [`hdlc`]: HDLC frames (§1.2) with 1/2/4-byte addresses, every control field DLMS uses,
//!   HCS/FCS (CRC-16/X.25), the SNRM/UA parameter block, a stream splitter that reports bad
//!   checks as typed errors and resynchronises, the LLC header, and segmentation/reassembly.
//! * [`wrapper`]: the 8-byte TCP/UDP wrapper header (§1.1) and its stream splitter.
//! * [`apdu`]: AARQ/AARE/RLRQ/RLRE (BER) with context and mechanism names, calling/responding
//!   AP titles and authentication values; the xDLMS InitiateRequest/Response with the
//!   conformance block; GET/SET/ACTION requests and responses in all their forms (normal, next
//!   block, with list, with data blocks); data-access-result; exception-response;
//!   confirmedServiceError; data-notification; general-block-transfer; selective access for
//!   profile generic (range and entry descriptors); and [`apdu::Apdu`], which decodes any
//!   of them by tag. The server-side helper
//!   [`GetResponse::for_encoded_value`](apdu::GetResponse::for_encoded_value) cuts a long answer
//!   into GET data blocks.
//! * [`security`]: suite 0 — the security control byte and header, AES-GCM-128 protection in its
//!   three forms, glo-/ded-/general-glo/general-ded ciphered APDUs, HLS-GMAC f(StoC)/f(CtoS), and
//!   the invocation counter rules ([`InvocationCounter`](security::InvocationCounter),
//!   [`ReplayGuard`](security::ReplayGuard)). AES-GCM comes from the RustCrypto `aes-gcm` crate
//!   (MIT OR Apache-2.0).
//! * [`error`]: [`DecodeError`], [`EncodeError`], [`ValueError`].
//! * [`cosem`]: the interface classes as typed structs (Data, registers, profile generic,
//!   clock, scripts, special days, Association LN, SAP assignment, activity calendar, push
//!   setup, disconnect control) with attribute and method numbers, decoding with typed
//!   [`AttributeError`](error::AttributeError)s, encoding and method parameter builders.
//! * [`client`]: the one part with I/O — a thin async client over any `AsyncRead + AsyncWrite`
//!   (TCP wrapper or HDLC link, association with LLS/HLS-GMAC and ciphering, GET/SET/ACTION with
//!   blocks, release) and the meter reader that maps a meter's object list into a `Reading`.
//!
//! # Choices where the guide is uncertain (guide §9.2) or leaves room
//!
//! * **Deviation sign** (§9.2 item 1): `deviation = UTC − local`, so `local = UTC − deviation`;
//!   CET is −60 (`FF C4`). Conversions to chrono use this reading only; the per-meter time policy
//!   (opposite sign, DST not included, fallback zone for `80 00`) belongs to the client.
//! * **Unspecified hundredths** (`FF`) count as zero when converting to chrono; year, month, day,
//!   hour, minute and second must be given. The day of week is not checked against the date.
//! * **Exception-response choice 6** (§9.2 item 2): decoded with the expected invocation counter
//!   when four bytes follow, and as `InvocationCounterError(None)` when the APDU ends after the
//!   choice byte.
//! * **GBT** (§9.2 item 3): only the APDU is implemented; windows, streaming and recovery are for
//!   the session layer, which should not propose GBT at first.
//! * **PDU size 0** (§9.2 item 5) is decoded as sent (the jDLMS AARQ carries it); what it means is
//!   the session layer's decision.
//! * **HDLC parameter values** are decoded as sent, in 1–4-byte fields; [`hdlc::HdlcParameters`]
//!   `clamped` brings them into 1–2030 bytes and windows 1–7, and `answer` computes a server's UA
//!   as the minimum of proposal and capability. We encode lengths in one byte when they fit (two
//!   otherwise) and windows in four bytes, as the real UAs in the guide do.
//! * **FRMR information** (§9.2 item 6) is kept as raw bytes.
//! * **HDLC resynchronisation**: a frame with a good HCS but a bad FCS is dropped whole (its
//!   length is trusted); any other broken frame costs only its opening flag, and the search for
//!   the next flag starts at the following byte.
//! * **HDLC address form** is part of an address's value; [`hdlc::HdlcAddress::server`] picks
//!   Gurux's rule (2 bytes when both parts are below 0x80, else 4) and `server_with_size` forces a
//!   form. [`hdlc::physical_address_from_serial`] is Gurux's `SN mod 10000 + 1000` convention.
//! * **Booleans** decode any non-zero byte as true; A-XDR OPTIONAL flags must be exactly 0 or 1
//!   (anything else would misalign what follows).
//! * **Strings** (visible, UTF-8) are kept as bytes, so one malformed string costs one value, not
//!   the reply; `Data::as_str` gives text when the bytes are UTF-8.
//! * **Compact arrays** are decoded and encoded; descriptions whose elements could take no bytes
//!   (null-data, dont-care, empty structures, zero-length arrays) are refused, since a few such
//!   bytes could describe millions of values.
//! * **Unit 255** (count / no unit) maps to the model's `Unit::None` (power factors and ratios);
//!   both `Unit::None` and `Unit::Count` map back to 255. Units the model lacks (m³, °C, % …) are
//!   a [`ValueError::UnitNotInModel`] when a `Quantity` is asked for.
//! * **ACSE fields** are accepted in any order and re-encoded in tag order; fields not interpreted
//!   (protocol-version, called-AP-title, implementation-information …) are kept verbatim. Only
//!   the charstring choice of the authentication value occurs in DLMS and is accepted.
//! * **Ciphered APDUs**: the inner APDU's tag is not checked against the ciphered tag; the
//!   encryption-only form (SC `20`) is opened as GCM counter mode without a tag; compression and
//!   suites other than 0 are refused with a typed error.
//! * **Conformance**: the old one-byte tag form `5F 04` is accepted on decode; we always send
//!   `5F 1F 04 00 …`.
//!
//! # Left for the layers above
//!
//! * The HDLC link state machine: V(S)/V(R) counting and reset on SNRM, RR polling for segmented
//!   transfers, window > 1, time-outs (inter-octet, inactivity, response), FRMR/DM handling,
//!   echo suppression on optical heads (the splitter's `last_frame_bytes` helps), and the
//!   IEC 62056-21 mode-E opening (the `flag` crate's messages cover `/?!` and `ACK 2 Z 2`).
//! * The association state machine (idle → pending → associated), the HLS-GMAC passes 3–4 as a
//!   flow, invoke-id bookkeeping, conformance enforcement, GET block reassembly with its checks
//!   and quirks (0-based block numbers), SET/ACTION block sending, and the per-meter quirk flags
//!   of guide Appendix A.
//! * The server's object model, access rights and dispatch (the simulator), and selective-access
//!   filtering of buffers.
//! * Persisting invocation counters and keys; key transfer (AES key wrap) and security setup
//!   methods.
//! * Short-name referencing, event-notification-request (`C2`), access-request (`D9`/`DA`),
//!   general-ciphering (`DD`), suites 1 and 2: not implemented (out of the guide's scope or not
//!   needed yet).
//! * The async transport adapters (TCP, serial) that move bytes through the splitters.

pub mod apdu;
pub mod axdr;
pub mod client;
pub mod cosem;
pub mod error;
pub mod hdlc;
pub mod obis;
mod reader;
pub mod security;
pub mod wrapper;

pub use apdu::Apdu;
pub use axdr::Data;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, ValueError};

#[cfg(test)]
mod test_util;
