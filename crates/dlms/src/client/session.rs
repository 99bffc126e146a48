//! One association with a meter: AARQ/AARE (with LLS or HLS-GMAC), GET, SET and ACTION with
//! their block forms, ciphering with suite 0, and release.
//!
//! The rules followed (guide §2, §3, §5):
//!
//! * Invoke ids start at 1 (`C1`: high priority, confirmed) and advance with every new request;
//!   GET-next and SET blocks keep the invoke id of their transfer. Every answer must carry the
//!   invoke byte of its request.
//! * Services are used only when the AARE granted them; GET-with-list falls back to single GETs
//!   when multiple references were not granted.
//! * GET block transfer: blocks are numbered from 1 (0 is accepted as the first number only with
//!   [`SessionOptions::zero_based_blocks`]); each is acknowledged with GET-next carrying the
//!   number just received; an unexpected number aborts the transfer with a typed error rather
//!   than guessing; the pieces are joined and decoded as one A-XDR value, whatever the cut
//!   points. The joined value is limited to [`SessionOptions::max_value_len`] bytes.
//! * SET goes in blocks when the request (ciphering included) would exceed the meter's maximum
//!   receive PDU and block transfer with SET was granted.
//! * Ciphered context: every request is sealed as a glo- APDU (ded- with a dedicated key), with
//!   a fresh invocation counter; answers must be ciphered (exception responses excepted), are
//!   checked with the meter's system title from the AARE, and their counters must increase.
//! * HLS-GMAC: the AARE must ask for authentication (diagnostic 14) and carry StoC; pass 3 sends
//!   f(StoC) with ACTION 1 on the association object (its counter value is consumed), pass 4's
//!   f(CtoS) is verified in constant time with the meter's system title.

use std::time::Duration;

use metermaster_model::ObisCode;
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncRead, AsyncWrite};

use super::link::{Link, LinkOptions};
use super::{Error, LinkStats, MeterError, Result};
use crate::apdu::{
    Aarq, AcseServiceUser, ActionRequest, ActionResponse, Apdu, ApplicationContext,
    AssociationResult, AttributeDescriptor, AttributeRequest, Conformance, DataAccessResult,
    DataBlock, DataBlockResult, GetDataBlock, GetDataResult, GetRequest, GetResponse,
    InitiateRequest, InitiateResponse, InvokeIdAndPriority, MechanismName, MethodDescriptor,
    ResultSourceDiagnostic, Rlrq, SelectiveAccess, SetRequest, SetResponse, UserInformation,
};
use crate::axdr::Data;
use crate::reader::{Reader, write_axdr_length};
use crate::security::{
    CipheredApdu, CipheredKind, CipheringMode, InvocationCounter, ReplayGuard, SecurityControl,
    Suite0Keys, SystemTitle, TAG_LEN, hls_gmac_response, verify_hls_gmac,
};

/// How the client proves who it is (guide §2.2).
#[derive(Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Lowest level: no authentication (the public client).
    None,
    /// LLS: a password (Association LN secret).
    Low { password: Vec<u8> },
    /// HLS-GMAC (mechanism 5): challenges answered with the keys of [`SecuritySettings`].
    HighGmac,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authentication::None => f.write_str("None"),
            Authentication::Low { .. } => f.write_str("Low { .. }"),
            Authentication::HighGmac => f.write_str("HighGmac"),
        }
    }
}

/// Whether APDUs are ciphered, and with which key (guide §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ciphering {
    /// Plain APDUs (application context 1). HLS-GMAC still uses the keys for its challenges.
    None,
    /// glo- APDUs with the global unicast key (context 3).
    Global,
    /// ded- APDUs with a dedicated key sent in the ciphered InitiateRequest (context 3).
    Dedicated,
}

/// Keys and counters of suite 0.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// The global unicast encryption key and the authentication key.
    pub keys: Suite0Keys,
    /// Our system title (calling-AP-title; the IV of everything we protect).
    pub client_title: SystemTitle,
    /// The next invocation counter value to use (the meter's expected counter, usually read
    /// from `0.0.43.1.e.255`, plus one).
    pub invocation_counter: u32,
    pub ciphering: Ciphering,
    /// The security control byte for requests: `30` (authenticated and encrypted) by default.
    pub control: SecurityControl,
    /// The dedicated key for [`Ciphering::Dedicated`]; `None` draws a random one.
    pub dedicated_key: Option<[u8; 16]>,
    /// The meter's system title when it is known in advance, for meters whose AARE carries no
    /// responding-AP-title (the AARE's title wins when there is one).
    pub server_title: Option<SystemTitle>,
}

impl SecuritySettings {
    pub fn new(keys: Suite0Keys, client_title: SystemTitle, invocation_counter: u32) -> Self {
        SecuritySettings {
            keys,
            client_title,
            invocation_counter,
            ciphering: Ciphering::Global,
            control: SecurityControl::AUTHENTICATED_ENCRYPTED,
            dedicated_key: None,
            server_title: None,
        }
    }
}

/// Everything that shapes a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub link: LinkOptions,
    pub authentication: Authentication,
    pub security: Option<SecuritySettings>,
    /// The conformance block proposed in the AARQ (default `007E1F`, the Green Book proposal:
    /// no general block transfer).
    pub conformance: Conformance,
    /// client-max-receive-pdu-size.
    pub max_receive_pdu: u16,
    /// The association object for HLS pass 3 (guide §8 item 13).
    pub association_ln: ObisCode,
    /// Send RLRQ before closing (some meters do not implement it, guide §2.8).
    pub release: bool,
    /// Accept 0 as the number of the first GET block (a meter quirk, guide §3.2).
    pub zero_based_blocks: bool,
    /// The HLS challenge CtoS; `None` draws 16 random bytes (fixed only in tests).
    pub hls_challenge: Option<Vec<u8>>,
    /// The longest value assembled from GET blocks.
    pub max_value_len: usize,
    /// The invoke-id-and-priority byte of the first request; later requests count the invoke
    /// id on. Default `C1` (high priority, confirmed, id 1); older clients used `81`.
    pub invoke_id_and_priority: InvokeIdAndPriority,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            link: LinkOptions::default(),
            authentication: Authentication::None,
            security: None,
            conformance: Conformance::GREEN_BOOK_PROPOSAL,
            max_receive_pdu: 0xFFFF,
            association_ln: ObisCode::new(0, 0, 40, 0, 0, 255),
            release: true,
            zero_based_blocks: false,
            hls_challenge: None,
            max_value_len: 16 << 20,
            invoke_id_and_priority: InvokeIdAndPriority::DEFAULT,
        }
    }
}

impl SessionOptions {
    pub fn response_timeout(&self) -> Duration {
        self.link.response_timeout
    }
}

/// What the association settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub context: ApplicationContext,
    pub conformance: Conformance,
    /// The largest APDU the meter accepts (0 in the AARE is taken as "no limit given").
    pub server_max_receive_pdu: u16,
    pub dlms_version: u8,
    /// The meter's system title (responding-AP-title), in ciphered contexts and HLS.
    pub server_title: Option<SystemTitle>,
}

impl Negotiated {
    pub fn grants(&self, mask: u32) -> bool {
        self.conformance.has(mask)
    }

    fn max_request(&self) -> usize {
        match self.server_max_receive_pdu {
            0 => usize::from(u16::MAX),
            n => usize::from(n),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// AARE asked for HLS passes 3 and 4.
    Pending,
    Associated,
}

/// A DLMS client session over a byte stream.
#[derive(Debug)]
pub struct DlmsClient<S> {
    link: Link<S>,
    opts: SessionOptions,
    invoke: InvokeIdAndPriority,
    state: State,
    negotiated: Option<Negotiated>,
    counter: InvocationCounter,
    replay: ReplayGuard,
    dedicated_key: Option<[u8; 16]>,
    /// The InitiateRequest of the AARQ (sent again, ciphered, in the RLRQ of a ciphered
    /// association).
    initiate: Option<InitiateRequest>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// Bytes a ciphered glo-/ded- APDU adds to a plain one of `plain` bytes.
fn ciphered_len(plain: usize, control: SecurityControl) -> usize {
    let content = 5 + plain + if control.authenticated() { TAG_LEN } else { 0 };
    let mut prefix = Vec::new();
    write_axdr_length(&mut prefix, content);
    1 + prefix.len() + content
}

fn length_prefix(n: usize) -> usize {
    let mut v = Vec::new();
    write_axdr_length(&mut v, n);
    v.len()
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> DlmsClient<S> {
    /// Attaches to a byte stream and opens the data link (HDLC: SNRM/UA).
    pub async fn connect(stream: S, opts: SessionOptions) -> Result<Self> {
        let mut client = Self::attach(stream, opts)?;
        client.link.open().await?;
        Ok(client)
    }

    /// Attaches to a byte stream without sending anything.
    pub fn attach(stream: S, opts: SessionOptions) -> Result<Self> {
        let link = Link::attach(stream, opts.link.clone())?;
        let counter = InvocationCounter::starting_at(
            opts.security.as_ref().map_or(1, |s| s.invocation_counter),
        );
        let dedicated_key = match &opts.security {
            Some(s) if s.ciphering == Ciphering::Dedicated => {
                Some(s.dedicated_key.unwrap_or_else(random_bytes::<16>))
            }
            _ => None,
        };
        let first_invoke = opts.invoke_id_and_priority;
        Ok(DlmsClient {
            link,
            opts,
            invoke: first_invoke,
            state: State::Idle,
            negotiated: None,
            counter,
            replay: ReplayGuard::new(),
            dedicated_key,
            initiate: None,
        })
    }

    pub fn stats(&self) -> LinkStats {
        self.link.stats()
    }

    pub fn options(&self) -> &SessionOptions {
        &self.opts
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn is_associated(&self) -> bool {
        self.state == State::Associated
    }

    /// The invocation counter value the next protected APDU will use (to persist it).
    pub fn next_invocation_counter(&self) -> Option<u32> {
        self.counter.peek()
    }

    pub fn link(&self) -> &Link<S> {
        &self.link
    }

    fn ciphering(&self) -> Ciphering {
        self.opts
            .security
            .as_ref()
            .map_or(Ciphering::None, |s| s.ciphering)
    }

    fn security(&self, during: &str) -> Result<&SecuritySettings> {
        self.opts.security.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "{during}: keys are needed (block cipher key, authentication key, system title)"
            ))
        })
    }

    fn next_invoke(&mut self) -> InvokeIdAndPriority {
        let i = self.invoke;
        self.invoke = i.next();
        i
    }

    fn next_counter(&mut self, during: &str) -> Result<u32> {
        self.counter
            .next_value()
            .map_err(|e| Error::security(during, e))
    }

    /// Seals a plain APDU for a ciphered context.
    fn seal(&mut self, plain: &[u8], during: &str) -> Result<Vec<u8>> {
        let ic = self.next_counter(during)?;
        let dedicated = self.dedicated_key;
        let s = self.security(during)?;
        let (mode, keys) = match (s.ciphering, dedicated) {
            (Ciphering::Dedicated, Some(k)) => {
                (CipheringMode::Dedicated, s.keys.with_encryption_key(k))
            }
            _ => (CipheringMode::Global, s.keys.clone()),
        };
        CipheredApdu::seal(plain, mode, s.control, &s.client_title, ic, &keys)
            .map(|c| c.encode())
            .map_err(|e| Error::security(during, e))
    }

    /// Opens a ciphered answer and checks its counter.
    fn open(&mut self, c: &CipheredApdu, during: &str) -> Result<Vec<u8>> {
        let server_title = self.negotiated.as_ref().and_then(|n| n.server_title);
        let dedicated = self.dedicated_key;
        let s = self.security(during)?;
        let keys = match (&c.kind, dedicated) {
            (CipheredKind::Dedicated(_) | CipheredKind::GeneralDedicated { .. }, Some(k)) => {
                s.keys.with_encryption_key(k)
            }
            (CipheredKind::Dedicated(_) | CipheredKind::GeneralDedicated { .. }, None) => {
                return Err(Error::protocol(
                    during,
                    "a ded- ciphered answer, but no dedicated key was agreed",
                ));
            }
            _ => s.keys.clone(),
        };
        let plain = c
            .open(&keys, server_title.as_ref())
            .map_err(|e| Error::security(during, e))?;
        self.replay
            .accept(c.header.invocation_counter)
            .map_err(|e| Error::security(during, e))?;
        Ok(plain)
    }

    /// Sends a plain request (sealed in a ciphered context) and returns the plain answer.
    async fn request(&mut self, plain: Vec<u8>, during: &str) -> Result<Apdu> {
        let ciphered = self.ciphering() != Ciphering::None;
        let bytes = if ciphered {
            self.seal(&plain, during)?
        } else {
            plain
        };
        if let Some(n) = &self.negotiated {
            if bytes.len() > n.max_request() {
                return Err(Error::Encode {
                    during: during.to_string(),
                    source: crate::error::EncodeError::TooLong {
                        what: "request",
                        len: bytes.len(),
                        max: n.max_request(),
                    },
                });
            }
        }
        let answer = self.link.exchange(&bytes, during).await?;
        let apdu = Apdu::decode(&answer).map_err(|e| Error::decode(during, e))?;
        let apdu = match apdu {
            Apdu::Ciphered(c) if ciphered => {
                let plain = self.open(&c, during)?;
                let inner = Apdu::decode(&plain).map_err(|e| Error::decode(during, e))?;
                if matches!(inner, Apdu::Ciphered(_)) {
                    return Err(Error::protocol(
                        during,
                        "a ciphered APDU inside a ciphered APDU",
                    ));
                }
                inner
            }
            Apdu::Ciphered(_) => {
                return Err(Error::protocol(
                    during,
                    "a ciphered answer in an association without ciphering",
                ));
            }
            Apdu::ExceptionResponse(_) => apdu,
            other if ciphered => {
                return Err(Error::protocol(
                    during,
                    format!(
                        "the meter answered in the clear ({}) in a ciphered association",
                        apdu_name(&other)
                    ),
                ));
            }
            other => other,
        };
        if let Apdu::ExceptionResponse(response) = apdu {
            // The meter dropped whatever state the request needed (dlms-cosem does the same).
            return Err(MeterError::Exception {
                during: during.to_string(),
                response,
            }
            .into());
        }
        Ok(apdu)
    }

    fn require_associated(&self, during: &str) -> Result<&Negotiated> {
        match (&self.state, &self.negotiated) {
            (State::Associated, Some(n)) => Ok(n),
            _ => Err(Error::Usage(format!("{during}: no association is open"))),
        }
    }

    fn require_grant(&self, during: &str, mask: u32, service: &'static str) -> Result<()> {
        let n = self.require_associated(during)?;
        if n.grants(mask) {
            Ok(())
        } else {
            Err(Error::NotGranted {
                during: during.to_string(),
                service,
            })
        }
    }

    // ----- association -----

    /// Opens the association: AARQ/AARE, and HLS passes 3 and 4 when HLS-GMAC is used.
    pub async fn associate(&mut self) -> Result<Negotiated> {
        let during = "association (AARQ)";
        if self.state != State::Idle {
            return Err(Error::Usage(format!(
                "{during}: an association is already open"
            )));
        }
        let ciphering = self.ciphering();
        let hls = self.opts.authentication == Authentication::HighGmac;
        if hls || ciphering != Ciphering::None {
            self.security(during)?;
        }
        let context = if ciphering == Ciphering::None {
            ApplicationContext::LN
        } else {
            ApplicationContext::LN_CIPHERED
        };
        let mut initiate = InitiateRequest::new(self.opts.conformance, self.opts.max_receive_pdu);
        initiate.dedicated_key = self.dedicated_key.map(|k| k.to_vec());
        let user_information = if ciphering == Ciphering::None {
            UserInformation::InitiateRequest(initiate.clone())
        } else {
            let sealed = self.seal_global(&initiate.encode(), during)?;
            UserInformation::Ciphered(sealed)
        };
        self.initiate = Some(initiate);
        let mut aarq = Aarq::new(context, user_information);
        let mut challenge = Vec::new();
        match &self.opts.authentication {
            Authentication::None => {}
            Authentication::Low { password } => {
                aarq = aarq.with_authentication(MechanismName::LOW, password.clone());
            }
            Authentication::HighGmac => {
                challenge = match &self.opts.hls_challenge {
                    Some(c) if (8..=64).contains(&c.len()) => c.clone(),
                    Some(c) => {
                        return Err(Error::Usage(format!(
                            "the HLS challenge must be 8 to 64 bytes, not {}",
                            c.len()
                        )));
                    }
                    None => random_bytes::<16>().to_vec(),
                };
                aarq = aarq.with_authentication(MechanismName::HIGH_GMAC, challenge.clone());
            }
        }
        if hls || ciphering != Ciphering::None {
            let title = self.security(during)?.client_title;
            aarq = aarq.with_calling_ap_title(title.0.to_vec());
        }
        let answer = self.link.exchange(&aarq.encode(), during).await?;
        let during = "association (AARE)";
        let aare = match Apdu::decode(&answer).map_err(|e| Error::decode(during, e))? {
            Apdu::Aare(a) => a,
            Apdu::ExceptionResponse(response) => {
                return Err(MeterError::Exception {
                    during: during.to_string(),
                    response,
                }
                .into());
            }
            other => {
                return Err(Error::protocol(
                    during,
                    format!("expected an AARE, got {}", apdu_name(&other)),
                ));
            }
        };
        if aare.result != AssociationResult::Accepted {
            let detail = match &aare.user_information {
                Some(UserInformation::ConfirmedServiceError(e)) => Some(*e),
                _ => None,
            };
            return Err(MeterError::AssociationRejected {
                result: aare.result,
                diagnostic: aare.diagnostic,
                detail,
            }
            .into());
        }
        let pending = match aare.diagnostic {
            ResultSourceDiagnostic::User(AcseServiceUser::NULL) => false,
            ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_REQUIRED) if hls => true,
            d => {
                return Err(Error::protocol(
                    during,
                    format!("association accepted with diagnostic {d}"),
                ));
            }
        };
        if hls && !pending {
            return Err(Error::protocol(
                during,
                "HLS-GMAC was asked for, but the meter did not ask for the HLS passes (diagnostic 14)",
            ));
        }
        if aare.application_context != context {
            return Err(Error::protocol(
                during,
                format!(
                    "the meter answered with application context {}, we asked for {}",
                    aare.application_context, context
                ),
            ));
        }
        let server_title = match &aare.responding_ap_title {
            Some(t) => Some(SystemTitle::from_slice(t).ok_or_else(|| {
                Error::protocol(
                    during,
                    format!("responding-AP-title of {} bytes, expected 8", t.len()),
                )
            })?),
            None => self.opts.security.as_ref().and_then(|s| s.server_title),
        };
        if (hls || ciphering != Ciphering::None) && server_title.is_none() {
            return Err(Error::protocol(
                during,
                "the AARE carries no responding-AP-title (the meter's system title)",
            ));
        }
        // The system title is needed to open a ciphered InitiateResponse.
        self.negotiated = Some(Negotiated {
            context,
            conformance: Conformance(0),
            server_max_receive_pdu: 0,
            dlms_version: 0,
            server_title,
        });
        let response = match aare.user_information {
            None => {
                return Err(Error::protocol(
                    during,
                    "the AARE carries no user-information (InitiateResponse)",
                ));
            }
            Some(UserInformation::InitiateResponse(r)) => r,
            Some(UserInformation::Ciphered(c)) => {
                if ciphering == Ciphering::None {
                    return Err(Error::protocol(
                        during,
                        "a ciphered InitiateResponse in an association without ciphering",
                    ));
                }
                let plain = self.open(&c, during)?;
                match UserInformation::decode(&plain).map_err(|e| Error::decode(during, e))? {
                    UserInformation::InitiateResponse(r) => r,
                    UserInformation::ConfirmedServiceError(e) => {
                        return Err(MeterError::AssociationRejected {
                            result: aare.result,
                            diagnostic: aare.diagnostic,
                            detail: Some(e),
                        }
                        .into());
                    }
                    _ => {
                        return Err(Error::protocol(
                            during,
                            "the ciphered user-information is not an InitiateResponse",
                        ));
                    }
                }
            }
            Some(UserInformation::ConfirmedServiceError(e)) => {
                return Err(MeterError::AssociationRejected {
                    result: aare.result,
                    diagnostic: aare.diagnostic,
                    detail: Some(e),
                }
                .into());
            }
            Some(UserInformation::InitiateRequest(_)) => {
                return Err(Error::protocol(
                    during,
                    "the AARE carries an InitiateRequest instead of a response",
                ));
            }
        };
        self.check_initiate_response(&response, during)?;
        self.negotiated = Some(Negotiated {
            context,
            conformance: response.negotiated_conformance,
            server_max_receive_pdu: response.server_max_receive_pdu_size,
            dlms_version: response.negotiated_dlms_version,
            server_title,
        });
        if pending {
            self.state = State::Pending;
            let stoc = aare.responding_authentication_value.ok_or_else(|| {
                Error::protocol(
                    during,
                    "the AARE asks for HLS but carries no challenge (responding-authentication-value)",
                )
            })?;
            self.hls_passes(&challenge, &stoc).await?;
        }
        self.state = State::Associated;
        self.negotiated
            .clone()
            .ok_or_else(|| Error::Usage("association state lost".into()))
    }

    fn seal_global(&mut self, plain: &[u8], during: &str) -> Result<CipheredApdu> {
        let ic = self.next_counter(during)?;
        let s = self.security(during)?;
        CipheredApdu::seal(
            plain,
            CipheringMode::Global,
            s.control,
            &s.client_title,
            ic,
            &s.keys,
        )
        .map_err(|e| Error::security(during, e))
    }

    fn check_initiate_response(&self, r: &InitiateResponse, during: &str) -> Result<()> {
        if r.vaa_name == InitiateResponse::VAA_SN {
            return Err(Error::protocol(
                during,
                "the meter offers short-name referencing only",
            ));
        }
        if r.negotiated_dlms_version < 6 {
            return Err(Error::protocol(
                during,
                format!("DLMS version {} (6 needed)", r.negotiated_dlms_version),
            ));
        }
        Ok(())
    }

    /// HLS-GMAC passes 3 and 4 (guide §2.7).
    async fn hls_passes(&mut self, ctos: &[u8], stoc: &[u8]) -> Result<()> {
        let during = "HLS pass 3 (reply_to_HLS_authentication)";
        let ic = self.next_counter(during)?;
        let s = self.security(during)?;
        let f_stoc = hls_gmac_response(&s.keys, &s.client_title, ic, stoc);
        let method = MethodDescriptor::new(15, self.opts.association_ln, 1);
        let invoke = self.next_invoke();
        let req = ActionRequest::normal(invoke, method, Some(Data::OctetString(f_stoc)));
        let answer = self.request(req.encode(), during).await?;
        let during = "HLS pass 4 (the meter's answer)";
        let result = match answer {
            Apdu::ActionResponse(ActionResponse::Normal {
                invoke: got,
                response,
            }) => {
                check_invoke(invoke, got, during)?;
                response
            }
            other => {
                return Err(Error::protocol(
                    during,
                    format!("expected an action-response, got {}", apdu_name(&other)),
                ));
            }
        };
        if !result.result.is_success() {
            self.state = State::Idle;
            return Err(MeterError::HlsRefused {
                result: result.result,
            }
            .into());
        }
        let f_ctos = match result.return_parameters {
            Some(GetDataResult::Data(Data::OctetString(b))) => b,
            Some(GetDataResult::Error(e)) => {
                self.state = State::Idle;
                return Err(MeterError::HlsRefused { result: e }.into());
            }
            Some(GetDataResult::Data(d)) => {
                return Err(Error::protocol(
                    during,
                    format!("f(CtoS) is a {}, expected an octet-string", d.type_name()),
                ));
            }
            None => {
                return Err(Error::protocol(during, "the answer carries no f(CtoS)"));
            }
        };
        let server_title = self
            .negotiated
            .as_ref()
            .and_then(|n| n.server_title)
            .ok_or_else(|| Error::protocol(during, "no server system title"))?;
        let s = self.security(during)?;
        verify_hls_gmac(&s.keys, &server_title, ctos, &f_ctos)
            .map_err(|e| Error::security(during, e))?;
        Ok(())
    }

    /// Releases the association (RLRQ/RLRE, unless the options say the meter does not do it).
    pub async fn release(&mut self) -> Result<()> {
        let during = "release (RLRQ)";
        if self.state == State::Idle {
            return Ok(());
        }
        let ciphered = self.ciphering() != Ciphering::None;
        self.state = State::Idle;
        if !self.opts.release {
            return Ok(());
        }
        let mut rlrq = Rlrq::normal();
        if ciphered {
            if let Some(init) = self.initiate.clone() {
                let sealed = self.seal_global(&init.encode(), during)?;
                rlrq.user_information = Some(UserInformation::Ciphered(sealed));
            }
        }
        let answer = self.link.exchange(&rlrq.encode(), during).await?;
        let during = "release (RLRE)";
        match Apdu::decode(&answer).map_err(|e| Error::decode(during, e))? {
            Apdu::Rlre(_) => Ok(()),
            Apdu::ExceptionResponse(response) => Err(MeterError::Exception {
                during: during.to_string(),
                response,
            }
            .into()),
            other => Err(Error::protocol(
                during,
                format!("expected an RLRE, got {}", apdu_name(&other)),
            )),
        }
    }

    /// Closes the data link (HDLC DISC). The association should be released first.
    pub async fn disconnect(&mut self) -> Result<()> {
        self.state = State::Idle;
        self.link.close().await
    }

    /// Releases and disconnects; the first problem is returned, but both are attempted.
    pub async fn finish(&mut self) -> Result<()> {
        let released = if self.state == State::Associated {
            self.release().await
        } else {
            self.state = State::Idle;
            Ok(())
        };
        let closed = self.link.close().await;
        released.and(closed)
    }

    // ----- GET -----

    /// GET one attribute, with optional selective access.
    pub async fn get(
        &mut self,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
    ) -> Result<Data> {
        let during = format!("GET {attribute}");
        self.require_grant(&during, Conformance::GET, "GET")?;
        if access.is_some() {
            self.require_grant(&during, Conformance::SELECTIVE_ACCESS, "selective access")?;
        }
        let invoke = self.next_invoke();
        let req = GetRequest::Normal {
            invoke,
            attribute,
            access,
        };
        let answer = self.request(req.encode(), &during).await?;
        match expect_get(answer, invoke, &during)? {
            GetResponse::Normal { result, .. } => match result {
                GetDataResult::Data(d) => Ok(d),
                GetDataResult::Error(result) => {
                    Err(MeterError::DataAccess { during, result }.into())
                }
            },
            GetResponse::WithDatablock { block, .. } => {
                let raw = self.collect_blocks(invoke, block, &during).await?;
                Data::decode(&raw)
                    .map_err(|e| Error::decode(format!("{during} (joined blocks)"), e))
            }
            GetResponse::WithList { .. } => Err(Error::protocol(
                &during,
                "a with-list answer to a single GET",
            )),
        }
    }

    /// GET several attributes at once (GET-with-list when granted, else one by one). Each
    /// attribute gets its value or the meter's data-access-result.
    pub async fn get_list(
        &mut self,
        requests: &[AttributeRequest],
    ) -> Result<Vec<std::result::Result<Data, DataAccessResult>>> {
        let during = format!("GET with list of {} attributes", requests.len());
        let n = self.require_associated(&during)?;
        let with_list = n.grants(Conformance::MULTIPLE_REFERENCES);
        if requests.len() <= 1 || !with_list {
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                match self.get(r.attribute, r.access.clone()).await {
                    Ok(d) => out.push(Ok(d)),
                    Err(Error::Meter(MeterError::DataAccess { result, .. })) => {
                        out.push(Err(result))
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(out);
        }
        self.require_grant(&during, Conformance::GET, "GET")?;
        if requests.iter().any(|r| r.access.is_some()) {
            self.require_grant(&during, Conformance::SELECTIVE_ACCESS, "selective access")?;
        }
        let invoke = self.next_invoke();
        let req = GetRequest::WithList {
            invoke,
            attributes: requests.to_vec(),
        };
        let answer = self.request(req.encode(), &during).await?;
        let results = match expect_get(answer, invoke, &during)? {
            GetResponse::WithList { results, .. } => results,
            GetResponse::WithDatablock { block, .. } => {
                let raw = self.collect_blocks(invoke, block, &during).await?;
                decode_result_list(&raw).map_err(|e| Error::decode(&during, e))?
            }
            GetResponse::Normal {
                result: GetDataResult::Error(e),
                ..
            } => vec![GetDataResult::Error(e); requests.len()],
            GetResponse::Normal { .. } => {
                return Err(Error::protocol(
                    &during,
                    "a single value answered a GET with list",
                ));
            }
        };
        if results.len() != requests.len() {
            return Err(Error::protocol(
                &during,
                format!(
                    "{} results for {} attributes",
                    results.len(),
                    requests.len()
                ),
            ));
        }
        Ok(results
            .into_iter()
            .map(GetDataResult::into_result)
            .collect())
    }

    /// Collects the blocks of a GET answer from the first one on.
    async fn collect_blocks(
        &mut self,
        invoke: InvokeIdAndPriority,
        first: GetDataBlock,
        during: &str,
    ) -> Result<Vec<u8>> {
        let mut expected: u32 = if self.opts.zero_based_blocks && first.block_number == 0 {
            0
        } else {
            1
        };
        let mut block = first;
        let mut raw = Vec::new();
        // Empty blocks make no progress; a meter that sends many is not going to finish.
        let mut empty_blocks = 0u32;
        loop {
            if block.block_number != expected {
                return Err(Error::protocol(
                    format!("{during}, block transfer"),
                    format!(
                        "block {} arrived where block {} was expected; transfer abandoned",
                        block.block_number, expected
                    ),
                ));
            }
            match block.result {
                DataBlockResult::RawData(d) => {
                    if d.is_empty() && !block.last_block {
                        empty_blocks += 1;
                        if empty_blocks > 16 {
                            return Err(Error::protocol(
                                during,
                                "the meter keeps sending empty blocks; transfer abandoned",
                            ));
                        }
                    }
                    if raw.len() + d.len() > self.opts.max_value_len {
                        return Err(Error::protocol(
                            during,
                            format!(
                                "the value grows beyond {} bytes in block {}",
                                self.opts.max_value_len, block.block_number
                            ),
                        ));
                    }
                    raw.extend_from_slice(&d);
                }
                DataBlockResult::Error(result) => {
                    return Err(MeterError::DataAccess {
                        during: format!("{during}, block {}", block.block_number),
                        result,
                    }
                    .into());
                }
            }
            if block.last_block {
                return Ok(raw);
            }
            let req = GetRequest::Next {
                invoke,
                block_number: block.block_number,
            };
            let step = format!("{during}, block {}", block.block_number.wrapping_add(1));
            let answer = self.request(req.encode(), &step).await?;
            block = match expect_get(answer, invoke, &step)? {
                GetResponse::WithDatablock { block, .. } => block,
                GetResponse::Normal {
                    result: GetDataResult::Error(result),
                    ..
                } => {
                    return Err(MeterError::DataAccess {
                        during: step,
                        result,
                    }
                    .into());
                }
                _ => {
                    return Err(Error::protocol(
                        step,
                        "the block transfer ended without a last block",
                    ));
                }
            };
            expected = expected
                .checked_add(1)
                .ok_or_else(|| Error::protocol(during, "block numbers ran out"))?;
        }
    }

    // ----- SET -----

    /// SET one attribute; in blocks when the request does not fit the meter's PDU size.
    pub async fn set(
        &mut self,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        value: &Data,
    ) -> Result<()> {
        let during = format!("SET {attribute}");
        self.require_grant(&during, Conformance::SET, "SET")?;
        if access.is_some() {
            self.require_grant(&during, Conformance::SELECTIVE_ACCESS, "selective access")?;
        }
        // The invoke id is taken only once the request is sure to go out.
        let invoke = self.invoke;
        let req = SetRequest::Normal {
            invoke,
            attribute,
            access: access.clone(),
            value: value.clone(),
        };
        let plain = req.encode();
        if self.wire_len(plain.len()) <= self.max_request() {
            self.next_invoke();
            let answer = self.request(plain, &during).await?;
            return match expect_set(answer, invoke, &during)? {
                SetResponse::Normal { result, .. } => success(result, during),
                _ => Err(Error::protocol(&during, "a block answer to a normal SET")),
            };
        }
        self.require_grant(
            &during,
            Conformance::BLOCK_TRANSFER_WITH_SET_OR_WRITE,
            "block transfer with SET",
        )?;
        self.next_invoke();
        self.set_in_blocks(invoke, attribute, access, &value.encode(), &during)
            .await
    }

    fn max_request(&self) -> usize {
        self.negotiated
            .as_ref()
            .map_or(usize::from(u16::MAX), Negotiated::max_request)
    }

    /// The length a plain APDU has on the wire (after ciphering).
    fn wire_len(&self, plain: usize) -> usize {
        match &self.opts.security {
            Some(s) if s.ciphering != Ciphering::None => ciphered_len(plain, s.control),
            _ => plain,
        }
    }

    /// The most raw-data bytes that fit after `fixed` bytes of APDU header.
    fn block_room(&self, fixed: usize, during: &str) -> Result<usize> {
        let max = self.max_request();
        let mut room = max.saturating_sub(fixed + 1);
        while room > 0 && self.wire_len(fixed + length_prefix(room) + room) > max {
            room -= 1;
        }
        if room == 0 {
            return Err(Error::protocol(
                during,
                format!("the meter's maximum PDU size {max} leaves no room for a data block"),
            ));
        }
        Ok(room)
    }

    async fn set_in_blocks(
        &mut self,
        invoke: InvokeIdAndPriority,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        encoded: &[u8],
        during: &str,
    ) -> Result<()> {
        // C1 02 iid, descriptor (9), access, last (1), number (4)
        let access_len = access
            .as_ref()
            .map_or(1, |a| 2 + a.parameters.encode().len());
        let first_fixed = 3 + 9 + access_len + 5;
        let next_fixed = 3 + 5;
        let mut offset = 0usize;
        let mut number: u32 = 1;
        loop {
            let fixed = if number == 1 { first_fixed } else { next_fixed };
            let room = self.block_room(fixed, during)?;
            let end = (offset + room).min(encoded.len());
            let last = end == encoded.len();
            let block = DataBlock {
                last_block: last,
                block_number: number,
                raw_data: encoded[offset..end].to_vec(),
            };
            let req = if number == 1 {
                SetRequest::WithFirstDatablock {
                    invoke,
                    attribute,
                    access: access.clone(),
                    block,
                }
            } else {
                SetRequest::WithDatablock { invoke, block }
            };
            let step = format!("{during}, block {number}");
            let answer = self.request(req.encode(), &step).await?;
            match expect_set(answer, invoke, &step)? {
                SetResponse::Datablock { block_number, .. } if !last && block_number == number => {}
                SetResponse::LastDatablock {
                    result,
                    block_number,
                    ..
                } if last && block_number == number => return success(result, step),
                SetResponse::Normal { result, .. } | SetResponse::LastDatablock { result, .. }
                    if !result.is_success() =>
                {
                    return Err(MeterError::DataAccess {
                        during: step,
                        result,
                    }
                    .into());
                }
                other => {
                    return Err(Error::protocol(
                        step,
                        format!("unexpected set-response {other:?}"),
                    ));
                }
            }
            offset = end;
            number = number
                .checked_add(1)
                .ok_or_else(|| Error::protocol(during, "block numbers ran out"))?;
        }
    }

    // ----- ACTION -----

    /// Invokes a method; returns its return parameters, if any.
    pub async fn action(
        &mut self,
        method: MethodDescriptor,
        parameters: Option<Data>,
    ) -> Result<Option<Data>> {
        let during = format!("ACTION {method}");
        self.require_grant(&during, Conformance::ACTION, "ACTION")?;
        let invoke = self.invoke;
        let req = ActionRequest::normal(invoke, method, parameters);
        let plain = req.encode();
        if self.wire_len(plain.len()) > self.max_request() {
            return Err(Error::NotGranted {
                during,
                service: "ACTION with parameter blocks (not implemented)",
            });
        }
        self.next_invoke();
        let answer = self.request(plain, &during).await?;
        match answer {
            Apdu::ActionResponse(ActionResponse::Normal {
                invoke: got,
                response,
            }) => {
                check_invoke(invoke, got, &during)?;
                if !response.result.is_success() {
                    return Err(MeterError::DataAccess {
                        during,
                        result: response.result,
                    }
                    .into());
                }
                match response.return_parameters {
                    None => Ok(None),
                    Some(GetDataResult::Data(d)) => Ok(Some(d)),
                    Some(GetDataResult::Error(result)) => {
                        Err(MeterError::DataAccess { during, result }.into())
                    }
                }
            }
            Apdu::ActionResponse(other) => Err(Error::protocol(
                during,
                format!(
                    "action-response {:?} (answers in blocks or with list are not supported)",
                    other
                ),
            )),
            other => Err(Error::protocol(
                during,
                format!("expected an action-response, got {}", apdu_name(&other)),
            )),
        }
    }
}

/// The joined blocks of a GET-with-list answer: a count and as many Get-Data-Results.
fn decode_result_list(raw: &[u8]) -> std::result::Result<Vec<GetDataResult>, crate::DecodeError> {
    let mut r = Reader::new(raw, "GET with list (joined blocks)");
    let n = r.axdr_length()?;
    let mut v = Vec::with_capacity(n.min(r.remaining()));
    for _ in 0..n {
        v.push(GetDataResult::read(&mut r)?);
    }
    r.finish()?;
    Ok(v)
}

fn success(result: DataAccessResult, during: impl Into<String>) -> Result<()> {
    if result.is_success() {
        Ok(())
    } else {
        Err(MeterError::DataAccess {
            during: during.into(),
            result,
        }
        .into())
    }
}

fn check_invoke(sent: InvokeIdAndPriority, got: InvokeIdAndPriority, during: &str) -> Result<()> {
    if sent == got {
        Ok(())
    } else {
        Err(Error::protocol(
            during,
            format!(
                "answer with invoke-id-and-priority {:02X}, the request had {:02X}",
                got.0, sent.0
            ),
        ))
    }
}

fn expect_get(answer: Apdu, invoke: InvokeIdAndPriority, during: &str) -> Result<GetResponse> {
    match answer {
        Apdu::GetResponse(r) => {
            check_invoke(invoke, r.invoke(), during)?;
            Ok(r)
        }
        other => Err(Error::protocol(
            during,
            format!("expected a get-response, got {}", apdu_name(&other)),
        )),
    }
}

fn expect_set(answer: Apdu, invoke: InvokeIdAndPriority, during: &str) -> Result<SetResponse> {
    match answer {
        Apdu::SetResponse(r) => {
            check_invoke(invoke, r.invoke(), during)?;
            Ok(r)
        }
        other => Err(Error::protocol(
            during,
            format!("expected a set-response, got {}", apdu_name(&other)),
        )),
    }
}

/// A short name of an APDU for messages.
pub(crate) fn apdu_name(a: &Apdu) -> &'static str {
    match a {
        Apdu::Aarq(_) => "an AARQ",
        Apdu::Aare(_) => "an AARE",
        Apdu::Rlrq(_) => "an RLRQ",
        Apdu::Rlre(_) => "an RLRE",
        Apdu::InitiateRequest(_) => "an InitiateRequest",
        Apdu::InitiateResponse(_) => "an InitiateResponse",
        Apdu::ConfirmedServiceError(_) => "a confirmedServiceError",
        Apdu::GetRequest(_) => "a get-request",
        Apdu::GetResponse(_) => "a get-response",
        Apdu::SetRequest(_) => "a set-request",
        Apdu::SetResponse(_) => "a set-response",
        Apdu::ActionRequest(_) => "an action-request",
        Apdu::ActionResponse(_) => "an action-response",
        Apdu::ExceptionResponse(_) => "an exception-response",
        Apdu::DataNotification(_) => "a data-notification",
        Apdu::GeneralBlockTransfer(_) => "a general-block-transfer",
        Apdu::Ciphered(_) => "a ciphered APDU",
    }
}
