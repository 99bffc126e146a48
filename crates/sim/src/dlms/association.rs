//! One application association, server side, without I/O: APDU bytes in, APDU bytes out.
//!
//! States (guide §2.9): idle → (AARQ accepted) associated, or pending when HLS-GMAC needs pass 3
//! → (reply_to_HLS_authentication verified) associated, or back to idle when it fails; RLRQ or
//! the end of the connection → idle.
//!
//! Clients:
//!
//! | SAP | authentication | application context |
//! |---|---|---|
//! | 16 public | none (mechanism 0) | LN, no ciphering |
//! | 17 reader | LLS, password `12345678` (mechanism 1) | LN, no ciphering |
//! | 1 management | HLS-GMAC (mechanism 5), suite-0 keys | LN with ciphering (then every xDLMS APDU must arrive glo-, ded- or general-glo-ciphered with SC `30`), or LN without ciphering (HLS authenticates, APDUs are plain) |
//!
//! Answers to faults: an unknown client, a context, mechanism or password that does not fit
//! give an AARE rejected-permanent with the ACSE diagnostic of guide §2.1 (a wrong password 13
//! authentication-failure; a ciphered initiate request that does not open with the keys is
//! also 13); a wrong f(StoC) in HLS pass 3 gives an action-response read-write-denied and
//! leaves the association idle; an xDLMS request before association, in the wrong state, with
//! an unknown tag or longer than the meter accepts gets an exception-response; a ciphered APDU
//! that does not open gets exception-response deciphering-error, one with an old invocation
//! counter invocation-counter-error.

use metermaster_dlms::Data;
use metermaster_dlms::apdu::{
    Aare, Aarq, AcseServiceUser, ActionRequest, ActionResponse, ActionResult, Apdu,
    ApplicationContext, AssociationResult, AttributeDescriptor, AttributeRequest,
    ConfirmedServiceError, Conformance, DataAccessResult as Dar, DataBlock, ExceptionResponse,
    GetDataResult, GetRequest, GetResponse, InitiateRequest, InitiateResponse, InvokeIdAndPriority,
    MechanismName, ResultSourceDiagnostic, Rlre, SelectiveAccess, ServiceError, SetRequest,
    SetResponse, StateError, UserInformation,
};
use metermaster_dlms::axdr::decode_length;
use metermaster_dlms::security::{
    CipheredApdu, CipheredKind, CipheringMode, ReplayGuard, SecurityControl, SecurityError,
    Suite0Keys, SystemTitle, hls_gmac_response, verify_hls_gmac,
};

use super::objects::{self, AssociationView, Client, Ctx};
use super::{DlmsFace, DlmsMeter, DlmsSecrets, SERVER_MAX_PDU};
use crate::meter::SimMeter;

/// The services the meter supports (guide §2.4): GET, SET, ACTION, selective access, block
/// transfer with GET and with SET, multiple references, priority management; general
/// protection in a ciphered context.
pub const SUPPORTED_CONFORMANCE: u32 = Conformance::PRIORITY_MGMT_SUPPORTED
    | Conformance::BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance::BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | Conformance::MULTIPLE_REFERENCES
    | Conformance::GET
    | Conformance::SET
    | Conformance::SELECTIVE_ACCESS
    | Conformance::ACTION;

/// The smallest client-max-receive-pdu-size accepted (0 means no limit).
pub const MIN_CLIENT_PDU: u16 = 32;

/// Room left for the ciphering around a response (tag, length, system title, SC, IC, GCM tag).
const CIPHER_OVERHEAD: usize = 32;

/// The largest value a SET with data blocks may accumulate.
const MAX_SET_BLOCKS_LEN: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Session {
    view: AssociationView,
    ciphered: bool,
    dedicated_key: Option<[u8; 16]>,
    dedicated_guard: ReplayGuard,
    ctos: Vec<u8>,
    stoc: Vec<u8>,
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Pending(Box<Session>),
    Associated(Box<Session>),
}

#[derive(Debug, Clone)]
struct GetTransfer {
    blocks: Vec<GetResponse>,
    /// Blocks sent so far (the number of the last one sent).
    sent: usize,
}

#[derive(Debug, Clone)]
enum SetTarget {
    One(AttributeDescriptor, Option<SelectiveAccess>),
    List(Vec<AttributeRequest>),
}

#[derive(Debug, Clone)]
struct SetTransfer {
    target: SetTarget,
    buf: Vec<u8>,
    last_block: u32,
}

/// How a ciphered request arrived, so that its response goes back the same way.
#[derive(Debug, Clone, Copy)]
struct Protection {
    mode: CipheringMode,
    control: SecurityControl,
}

/// One association of one client on one connection.
#[derive(Debug, Clone)]
pub struct Association {
    client_sap: u16,
    state: State,
    get: Option<GetTransfer>,
    set: Option<SetTransfer>,
}

fn exception(state: StateError, service: ServiceError) -> Vec<u8> {
    ExceptionResponse::new(state, service).encode()
}

impl Association {
    pub fn new(client_sap: u16) -> Self {
        Association {
            client_sap,
            state: State::Idle,
            get: None,
            set: None,
        }
    }

    pub fn client_sap(&self) -> u16 {
        self.client_sap
    }

    pub fn is_associated(&self) -> bool {
        matches!(self.state, State::Associated(_))
    }

    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending(_))
    }

    /// True while a GET answer is being sent in blocks.
    pub fn block_transfer_in_progress(&self) -> bool {
        self.get.is_some() || self.set.is_some()
    }

    /// Handles one APDU from the client; `None`: nothing to answer.
    pub fn handle(
        &mut self,
        meter: &DlmsMeter,
        secrets: &DlmsSecrets,
        apdu: &[u8],
    ) -> Option<Vec<u8>> {
        let (mut m, mut f) = meter.lock();
        self.handle_locked(&mut m, &mut f, secrets, apdu)
    }

    fn handle_locked(
        &mut self,
        meter: &mut SimMeter,
        face: &mut DlmsFace,
        secrets: &DlmsSecrets,
        apdu: &[u8],
    ) -> Option<Vec<u8>> {
        if apdu.len() > usize::from(SERVER_MAX_PDU) {
            return Some(exception(
                StateError::ServiceNotAllowed,
                ServiceError::PduTooLong,
            ));
        }
        let decoded = match Apdu::decode(apdu) {
            Ok(a) => a,
            Err(_) => {
                return Some(match apdu.first() {
                    Some(0x60) => self.reject(
                        ApplicationContext::LN,
                        AcseServiceUser::NO_REASON_GIVEN,
                        None,
                    ),
                    Some(0xC0 | 0xC1 | 0xC3) => {
                        exception(StateError::ServiceNotAllowed, ServiceError::OtherReason)
                    }
                    _ => exception(
                        StateError::ServiceUnknown,
                        ServiceError::ServiceNotSupported,
                    ),
                });
            }
        };
        match decoded {
            Apdu::Aarq(a) => Some(self.on_aarq(meter, face, secrets, a)),
            Apdu::Rlrq(_) => {
                self.reset();
                Some(Rlre::normal().encode())
            }
            Apdu::Ciphered(c) => Some(self.on_ciphered(meter, face, secrets, c)),
            req @ (Apdu::GetRequest(_) | Apdu::SetRequest(_) | Apdu::ActionRequest(_)) => {
                let ciphered = match &self.state {
                    State::Idle => {
                        return Some(exception(
                            StateError::ServiceNotAllowed,
                            ServiceError::ServiceNotSupported,
                        ));
                    }
                    State::Pending(s) | State::Associated(s) => s.ciphered,
                };
                if ciphered {
                    // The management association's policy: everything ciphered.
                    return Some(exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::OperationNotPossible,
                    ));
                }
                Some(self.dispatch(meter, face, secrets, req, 0))
            }
            _ => Some(exception(
                StateError::ServiceUnknown,
                ServiceError::ServiceNotSupported,
            )),
        }
    }

    fn reset(&mut self) {
        self.state = State::Idle;
        self.get = None;
        self.set = None;
    }

    fn reject(
        &mut self,
        context: ApplicationContext,
        diagnostic: AcseServiceUser,
        ui: Option<UserInformation>,
    ) -> Vec<u8> {
        self.reset();
        Aare::rejected(
            context,
            AssociationResult::RejectedPermanent,
            diagnostic,
            ui,
        )
        .encode()
    }

    fn on_aarq(
        &mut self,
        meter: &mut SimMeter,
        face: &mut DlmsFace,
        secrets: &DlmsSecrets,
        aarq: Aarq,
    ) -> Vec<u8> {
        self.reset();
        if face.user_written_by == Some(self.client_sap) {
            face.user_written_by = None;
        }
        let ctx = aarq.application_context;
        let answer_ctx = if ctx == ApplicationContext::LN || ctx == ApplicationContext::LN_CIPHERED
        {
            ctx
        } else {
            ApplicationContext::LN
        };
        let Some(client) = Client::from_sap(self.client_sap) else {
            return self.reject(answer_ctx, AcseServiceUser::NO_REASON_GIVEN, None);
        };
        let ctx_ok = match client {
            Client::Public | Client::Reader => ctx == ApplicationContext::LN,
            Client::Management => {
                ctx == ApplicationContext::LN || ctx == ApplicationContext::LN_CIPHERED
            }
        };
        if !ctx_ok {
            return self.reject(
                answer_ctx,
                AcseServiceUser::APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                None,
            );
        }
        let wanted = match client {
            Client::Public => MechanismName::LOWEST,
            Client::Reader => MechanismName::LOW,
            Client::Management => MechanismName::HIGH_GMAC,
        };
        let mechanism = aarq.mechanism_name.unwrap_or(MechanismName::LOWEST);
        if mechanism != wanted {
            let diag = if aarq.mechanism_name.is_none() {
                AcseServiceUser::AUTHENTICATION_MECHANISM_NAME_REQUIRED
            } else {
                AcseServiceUser::AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
            };
            return self.reject(answer_ctx, diag, None);
        }
        let auth_value = aarq
            .calling_authentication_value
            .clone()
            .unwrap_or_default();
        match client {
            Client::Reader if auth_value != secrets.lls_password => {
                return self.reject(answer_ctx, AcseServiceUser::AUTHENTICATION_FAILURE, None);
            }
            Client::Management if !(8..=64).contains(&auth_value.len()) => {
                return self.reject(answer_ctx, AcseServiceUser::AUTHENTICATION_FAILURE, None);
            }
            _ => {}
        }
        let ciphered = ctx.is_ciphered();
        let client_title = aarq
            .calling_ap_title
            .as_deref()
            .and_then(SystemTitle::from_slice);
        if client == Client::Management && client_title.is_none() {
            // Needed to check f(StoC) and to open ciphered APDUs.
            return self.reject(answer_ctx, AcseServiceUser(3), None);
        }
        let request = match (aarq.user_information, ciphered, client_title) {
            (Some(UserInformation::InitiateRequest(ir)), false, _) => ir,
            (Some(UserInformation::Ciphered(c)), true, Some(title))
                if matches!(
                    c.kind,
                    CipheredKind::Global(
                        metermaster_dlms::security::CipheredService::InitiateRequest
                    )
                ) && c.header.control == SecurityControl::AUTHENTICATED_ENCRYPTED =>
            {
                let opened = face
                    .client_guard
                    .check(c.header.invocation_counter)
                    .ok()
                    .and_then(|_| c.open(&secrets.keys, Some(&title)).ok())
                    .and_then(|plain| InitiateRequest::decode(&plain).ok());
                match opened {
                    Some(ir) => {
                        let _ = face.client_guard.accept(c.header.invocation_counter);
                        ir
                    }
                    None => {
                        return self.reject(
                            answer_ctx,
                            AcseServiceUser::AUTHENTICATION_FAILURE,
                            None,
                        );
                    }
                }
            }
            _ => return self.reject(answer_ctx, AcseServiceUser::NO_REASON_GIVEN, None),
        };
        let initiate_error = |this: &mut Self, reason: u8| {
            this.reject(
                answer_ctx,
                AcseServiceUser::NO_REASON_GIVEN,
                Some(UserInformation::ConfirmedServiceError(
                    ConfirmedServiceError::initiate(reason),
                )),
            )
        };
        if request.proposed_dlms_version < 6 {
            return initiate_error(self, ConfirmedServiceError::INITIATE_DLMS_VERSION_TOO_LOW);
        }
        let supported = SUPPORTED_CONFORMANCE
            | if ciphered {
                Conformance::GENERAL_PROTECTION
            } else {
                0
            };
        let conformance = request
            .proposed_conformance
            .intersection(Conformance(supported));
        if !conformance.has(Conformance::GET) && !conformance.has(Conformance::SET) {
            return initiate_error(
                self,
                ConfirmedServiceError::INITIATE_INCOMPATIBLE_CONFORMANCE,
            );
        }
        let client_max_pdu = match request.client_max_receive_pdu_size {
            0 => u16::MAX,
            n if n < MIN_CLIENT_PDU => {
                return initiate_error(self, ConfirmedServiceError::INITIATE_PDU_SIZE_TOO_SHORT);
            }
            n => n,
        };
        let dedicated_key = request
            .dedicated_key
            .as_deref()
            .filter(|_| ciphered)
            .and_then(|k| <[u8; 16]>::try_from(k).ok());
        let mut session = Session {
            view: AssociationView {
                client,
                client_sap: self.client_sap,
                context: ctx,
                mechanism,
                conformance,
                client_max_pdu,
                client_title,
                associated: client != Client::Management,
            },
            ciphered,
            dedicated_key,
            dedicated_guard: ReplayGuard::new(),
            ctos: auth_value,
            stoc: Vec::new(),
        };
        let response = InitiateResponse::new(conformance, SERVER_MAX_PDU);
        if client != Client::Management {
            self.state = State::Associated(Box::new(session));
            return Aare::accepted(ctx, UserInformation::InitiateResponse(response)).encode();
        }
        // HLS-GMAC pass 2: accepted, authentication required, with the server's challenge.
        let mut stoc = meter.new_seed().to_vec();
        stoc.extend(meter.new_seed());
        session.stoc = stoc.clone();
        let ui = if ciphered {
            let sealed = face.server_ic.next_value().ok().and_then(|ic| {
                CipheredApdu::seal(
                    &response.encode(),
                    CipheringMode::Global,
                    SecurityControl::AUTHENTICATED_ENCRYPTED,
                    &face.system_title,
                    ic,
                    &secrets.keys,
                )
                .ok()
            });
            match sealed {
                Some(c) => UserInformation::Ciphered(c),
                None => return self.reject(answer_ctx, AcseServiceUser::NO_REASON_GIVEN, None),
            }
        } else {
            UserInformation::InitiateResponse(response)
        };
        let mut aare = Aare::accepted(ctx, ui);
        aare.diagnostic = ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_REQUIRED);
        aare.responding_ap_title = Some(face.system_title.0.to_vec());
        aare.authentication_functional_unit = true;
        aare.mechanism_name = Some(MechanismName::HIGH_GMAC);
        aare.responding_authentication_value = Some(stoc);
        self.state = State::Pending(Box::new(session));
        aare.encode()
    }

    fn session(&self) -> Option<&Session> {
        match &self.state {
            State::Idle => None,
            State::Pending(s) | State::Associated(s) => Some(s),
        }
    }

    fn on_ciphered(
        &mut self,
        meter: &mut SimMeter,
        face: &mut DlmsFace,
        secrets: &DlmsSecrets,
        c: CipheredApdu,
    ) -> Vec<u8> {
        let Some(session) = self.session().filter(|s| s.ciphered).cloned() else {
            return exception(
                StateError::ServiceNotAllowed,
                ServiceError::ServiceNotSupported,
            );
        };
        let deciphering = || {
            exception(
                StateError::ServiceNotAllowed,
                ServiceError::DecipheringError,
            )
        };
        let (dedicated, mode) = match &c.kind {
            CipheredKind::Global(_) => (false, CipheringMode::Global),
            CipheredKind::Dedicated(_) => (true, CipheringMode::Dedicated),
            CipheredKind::GeneralGlobal { .. } => (false, CipheringMode::GeneralGlobal),
            CipheredKind::GeneralDedicated { .. } => (true, CipheringMode::GeneralDedicated),
        };
        if let CipheredKind::GeneralGlobal { system_title }
        | CipheredKind::GeneralDedicated { system_title } = &c.kind
        {
            if Some(system_title.as_slice()) != session.view.client_title.as_ref().map(|t| &t.0[..])
            {
                return deciphering();
            }
        }
        if c.header.control != SecurityControl::AUTHENTICATED_ENCRYPTED {
            return deciphering();
        }
        let keys = match (dedicated, session.dedicated_key) {
            (false, _) => secrets.keys.clone(),
            (true, Some(k)) => secrets.keys.with_encryption_key(k),
            (true, None) => return deciphering(),
        };
        let ic = c.header.invocation_counter;
        let guard_check = if dedicated {
            session.dedicated_guard.check(ic)
        } else {
            face.client_guard.check(ic)
        };
        if let Err(SecurityError::Replay { last, .. }) = guard_check {
            return exception(
                StateError::ServiceNotAllowed,
                ServiceError::InvocationCounterError(Some(last.wrapping_add(1))),
            );
        }
        let plain = match c.open(&keys, session.view.client_title.as_ref()) {
            Ok(p) => p,
            Err(_) => return deciphering(),
        };
        if dedicated {
            if let State::Pending(s) | State::Associated(s) = &mut self.state {
                let _ = s.dedicated_guard.accept(ic);
            }
        } else {
            let _ = face.client_guard.accept(ic);
        }
        let req = match Apdu::decode(&plain) {
            Ok(a @ (Apdu::GetRequest(_) | Apdu::SetRequest(_) | Apdu::ActionRequest(_))) => a,
            Ok(_) => {
                return exception(
                    StateError::ServiceUnknown,
                    ServiceError::ServiceNotSupported,
                );
            }
            Err(_) => return exception(StateError::ServiceNotAllowed, ServiceError::OtherReason),
        };
        let response = self.dispatch(meter, face, secrets, req, CIPHER_OVERHEAD);
        if response.first() == Some(&0xD8) {
            return response;
        }
        let protection = Protection {
            mode,
            control: c.header.control,
        };
        seal(face, &keys, protection, &response)
            .unwrap_or_else(|| exception(StateError::ServiceNotAllowed, ServiceError::OtherReason))
    }

    /// Answers a GET, SET or ACTION (already deciphered); `overhead` is what ciphering will
    /// add to the answer.
    fn dispatch(
        &mut self,
        meter: &mut SimMeter,
        face: &mut DlmsFace,
        secrets: &DlmsSecrets,
        req: Apdu,
        overhead: usize,
    ) -> Vec<u8> {
        let Some(session) = self.session().cloned() else {
            return exception(
                StateError::ServiceNotAllowed,
                ServiceError::ServiceNotSupported,
            );
        };
        if let State::Pending(_) = self.state {
            return match req {
                Apdu::ActionRequest(ActionRequest::Normal {
                    invoke,
                    method,
                    parameters,
                }) if method.class_id == 15
                    && method.instance == objects::ASSOCIATION_LN
                    && method.method_id == 1 =>
                {
                    self.hls_pass_3(face, secrets, &session, invoke, parameters.as_ref())
                }
                _ => exception(
                    StateError::ServiceNotAllowed,
                    ServiceError::OperationNotPossible,
                ),
            };
        }
        let conf = session.view.conformance;
        let limit = usize::from(session.view.client_max_pdu.min(SERVER_MAX_PDU))
            .saturating_sub(overhead)
            .max(16);
        let not_granted = || {
            exception(
                StateError::ServiceNotAllowed,
                ServiceError::ServiceNotSupported,
            )
        };
        let mut ctx = Ctx {
            meter,
            face,
            view: &session.view,
        };
        match req {
            Apdu::GetRequest(g) => {
                if !conf.has(Conformance::GET) {
                    return not_granted();
                }
                self.on_get(&mut ctx, g, conf, limit)
            }
            Apdu::SetRequest(s) => {
                if !conf.has(Conformance::SET) {
                    return not_granted();
                }
                self.on_set(&mut ctx, s, conf)
            }
            Apdu::ActionRequest(a) => {
                if !conf.has(Conformance::ACTION) {
                    return not_granted();
                }
                self.on_action(&mut ctx, a, conf)
            }
            _ => not_granted(),
        }
    }

    fn hls_pass_3(
        &mut self,
        face: &mut DlmsFace,
        secrets: &DlmsSecrets,
        session: &Session,
        invoke: InvokeIdAndPriority,
        parameters: Option<&Data>,
    ) -> Vec<u8> {
        let verified = match (parameters, session.view.client_title) {
            (Some(Data::OctetString(f)), Some(title)) => {
                verify_hls_gmac(&secrets.keys, &title, &session.stoc, f).is_ok()
            }
            _ => false,
        };
        let reply = if verified {
            face.server_ic
                .next_value()
                .ok()
                .map(|ic| hls_gmac_response(&secrets.keys, &face.system_title, ic, &session.ctos))
        } else {
            None
        };
        match reply {
            Some(f_ctos) => {
                let mut s = session.clone();
                s.view.associated = true;
                self.state = State::Associated(Box::new(s));
                ActionResponse::Normal {
                    invoke,
                    response: ActionResult {
                        result: Dar::Success,
                        return_parameters: Some(GetDataResult::Data(Data::OctetString(f_ctos))),
                    },
                }
                .encode()
            }
            None => {
                self.state = State::Idle;
                ActionResponse::Normal {
                    invoke,
                    response: ActionResult {
                        result: Dar::ReadWriteDenied,
                        return_parameters: None,
                    },
                }
                .encode()
            }
        }
    }

    fn on_get(
        &mut self,
        ctx: &mut Ctx<'_>,
        g: GetRequest,
        conf: Conformance,
        limit: usize,
    ) -> Vec<u8> {
        match g {
            GetRequest::Normal {
                invoke,
                attribute,
                access,
            } => {
                self.get = None;
                self.set = None;
                if access.is_some() && !conf.has(Conformance::SELECTIVE_ACCESS) {
                    return normal_error(invoke, Dar::OtherReason);
                }
                match objects::get_attribute(ctx, &attribute, access.as_ref()) {
                    Err(e) => normal_error(invoke, e),
                    Ok(value) => self.answer(invoke, &value.encode(), false, conf, limit),
                }
            }
            GetRequest::WithList { invoke, attributes } => {
                self.get = None;
                self.set = None;
                if !conf.has(Conformance::MULTIPLE_REFERENCES) {
                    return exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                }
                let results: Vec<GetDataResult> = attributes
                    .iter()
                    .map(|a| {
                        if a.access.is_some() && !conf.has(Conformance::SELECTIVE_ACCESS) {
                            return GetDataResult::Error(Dar::OtherReason);
                        }
                        match objects::get_attribute(ctx, &a.attribute, a.access.as_ref()) {
                            Ok(d) => GetDataResult::Data(d),
                            Err(e) => GetDataResult::Error(e),
                        }
                    })
                    .collect();
                let whole = GetResponse::WithList {
                    invoke,
                    results: results.clone(),
                }
                .encode();
                if whole.len() <= limit {
                    return whole;
                }
                // The raw data of the blocks: the list as it follows the invoke byte.
                let raw = whole.get(3..).unwrap_or_default().to_vec();
                self.answer(invoke, &raw, true, conf, limit)
            }
            GetRequest::Next {
                invoke,
                block_number,
            } => {
                let Some(t) = self.get.as_mut() else {
                    return block_error(invoke, block_number, Dar::NoLongGetInProgress);
                };
                if usize::try_from(block_number).ok() != Some(t.sent) {
                    self.get = None;
                    return block_error(invoke, block_number, Dar::DataBlockNumberInvalid);
                }
                let Some(next) = t.blocks.get(t.sent).cloned() else {
                    self.get = None;
                    return block_error(invoke, block_number, Dar::NoLongGetInProgress);
                };
                t.sent += 1;
                if t.sent == t.blocks.len() {
                    self.get = None;
                }
                with_invoke(next, invoke).encode()
            }
        }
    }

    /// A GET answer: in one APDU when it fits, else in blocks (block 1 now, the rest on
    /// Get-Request-Next). `list`: the raw bytes are a with-list answer too long for one APDU
    /// (so they go in blocks).
    fn answer(
        &mut self,
        invoke: InvokeIdAndPriority,
        raw: &[u8],
        list: bool,
        conf: Conformance,
        limit: usize,
    ) -> Vec<u8> {
        let fits = !list && 4 + raw.len() <= limit;
        if !fits && !conf.has(Conformance::BLOCK_TRANSFER_WITH_GET_OR_READ) {
            return normal_error(invoke, Dar::OtherReason);
        }
        match GetResponse::for_encoded_value(invoke, raw, limit) {
            Ok(blocks) => {
                let Some(first) = blocks.first().map(GetResponse::encode) else {
                    return normal_error(invoke, Dar::OtherReason);
                };
                if blocks.len() > 1 {
                    self.get = Some(GetTransfer { blocks, sent: 1 });
                }
                first
            }
            Err(_) => normal_error(invoke, Dar::OtherReason),
        }
    }

    fn on_set(&mut self, ctx: &mut Ctx<'_>, s: SetRequest, conf: Conformance) -> Vec<u8> {
        let blocks_ok = conf.has(Conformance::BLOCK_TRANSFER_WITH_SET_OR_WRITE);
        match s {
            SetRequest::Normal {
                invoke,
                attribute,
                access,
                value,
            } => {
                self.get = None;
                self.set = None;
                let result = objects::set_attribute(ctx, &attribute, access.as_ref(), &value);
                SetResponse::Normal { invoke, result }.encode()
            }
            SetRequest::WithList {
                invoke,
                attributes,
                values,
            } => {
                self.get = None;
                self.set = None;
                if !conf.has(Conformance::MULTIPLE_REFERENCES) {
                    return exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                }
                let results = set_list(ctx, &attributes, Some(&values));
                SetResponse::WithList { invoke, results }.encode()
            }
            SetRequest::WithFirstDatablock {
                invoke,
                attribute,
                access,
                block,
            } => {
                self.get = None;
                self.set = None;
                if !blocks_ok {
                    return exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                }
                self.first_set_block(ctx, invoke, SetTarget::One(attribute, access), block)
            }
            SetRequest::WithListAndFirstDatablock {
                invoke,
                attributes,
                block,
            } => {
                self.get = None;
                self.set = None;
                if !blocks_ok || !conf.has(Conformance::MULTIPLE_REFERENCES) {
                    return exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                }
                self.first_set_block(ctx, invoke, SetTarget::List(attributes), block)
            }
            SetRequest::WithDatablock { invoke, block } => {
                let Some(t) = self.set.as_mut() else {
                    return SetResponse::LastDatablock {
                        invoke,
                        result: Dar::NoLongSetInProgress,
                        block_number: block.block_number,
                    }
                    .encode();
                };
                if block.block_number != t.last_block.wrapping_add(1)
                    || t.buf.len() + block.raw_data.len() > MAX_SET_BLOCKS_LEN
                {
                    let result = if block.block_number != t.last_block.wrapping_add(1) {
                        Dar::DataBlockNumberInvalid
                    } else {
                        Dar::LongSetAborted
                    };
                    self.set = None;
                    return SetResponse::LastDatablock {
                        invoke,
                        result,
                        block_number: block.block_number,
                    }
                    .encode();
                }
                t.buf.extend_from_slice(&block.raw_data);
                t.last_block = block.block_number;
                if !block.last_block {
                    return SetResponse::Datablock {
                        invoke,
                        block_number: block.block_number,
                    }
                    .encode();
                }
                let Some(t) = self.set.take() else {
                    return exception(StateError::ServiceNotAllowed, ServiceError::OtherReason);
                };
                finish_set(ctx, invoke, t)
            }
        }
    }

    fn first_set_block(
        &mut self,
        ctx: &mut Ctx<'_>,
        invoke: InvokeIdAndPriority,
        target: SetTarget,
        block: DataBlock,
    ) -> Vec<u8> {
        if block.block_number != 1 {
            return SetResponse::LastDatablock {
                invoke,
                result: Dar::DataBlockNumberInvalid,
                block_number: block.block_number,
            }
            .encode();
        }
        let t = SetTransfer {
            target,
            buf: block.raw_data,
            last_block: 1,
        };
        if block.last_block {
            return finish_set(ctx, invoke, t);
        }
        self.set = Some(t);
        SetResponse::Datablock {
            invoke,
            block_number: 1,
        }
        .encode()
    }

    fn on_action(&mut self, ctx: &mut Ctx<'_>, a: ActionRequest, conf: Conformance) -> Vec<u8> {
        self.get = None;
        self.set = None;
        let result = |ctx: &mut Ctx<'_>, m, p: Option<&Data>| match objects::action(ctx, m, p) {
            Ok(data) => ActionResult {
                result: Dar::Success,
                return_parameters: data.map(GetDataResult::Data),
            },
            Err(e) => ActionResult {
                result: e,
                return_parameters: None,
            },
        };
        match a {
            ActionRequest::Normal {
                invoke,
                method,
                parameters,
            } => ActionResponse::Normal {
                invoke,
                response: result(ctx, &method, parameters.as_ref()),
            }
            .encode(),
            ActionRequest::WithList {
                invoke,
                methods,
                parameters,
            } => {
                if !conf.has(Conformance::MULTIPLE_REFERENCES) {
                    return exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                }
                let responses = methods
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        if parameters.len() != methods.len() {
                            return ActionResult {
                                result: Dar::OtherReason,
                                return_parameters: None,
                            };
                        }
                        result(ctx, m, parameters.get(i))
                    })
                    .collect();
                ActionResponse::WithList { invoke, responses }.encode()
            }
            // Block transfer with ACTION is not granted.
            _ => exception(
                StateError::ServiceNotAllowed,
                ServiceError::ServiceNotSupported,
            ),
        }
    }
}

fn normal_error(invoke: InvokeIdAndPriority, e: Dar) -> Vec<u8> {
    GetResponse::Normal {
        invoke,
        result: GetDataResult::Error(e),
    }
    .encode()
}

fn block_error(invoke: InvokeIdAndPriority, block_number: u32, e: Dar) -> Vec<u8> {
    GetResponse::WithDatablock {
        invoke,
        block: metermaster_dlms::apdu::GetDataBlock {
            last_block: true,
            block_number,
            result: metermaster_dlms::apdu::DataBlockResult::Error(e),
        },
    }
    .encode()
}

fn with_invoke(r: GetResponse, invoke: InvokeIdAndPriority) -> GetResponse {
    match r {
        GetResponse::WithDatablock { block, .. } => GetResponse::WithDatablock { invoke, block },
        GetResponse::Normal { result, .. } => GetResponse::Normal { invoke, result },
        GetResponse::WithList { results, .. } => GetResponse::WithList { invoke, results },
    }
}

fn set_list(
    ctx: &mut Ctx<'_>,
    attributes: &[AttributeRequest],
    values: Option<&[Data]>,
) -> Vec<Dar> {
    attributes
        .iter()
        .enumerate()
        .map(|(i, a)| match values.and_then(|v| v.get(i)) {
            Some(v) if values.is_some_and(|vs| vs.len() == attributes.len()) => {
                objects::set_attribute(ctx, &a.attribute, a.access.as_ref(), v)
            }
            _ => Dar::OtherReason,
        })
        .collect()
}

/// Applies a SET whose value arrived in blocks.
fn finish_set(ctx: &mut Ctx<'_>, invoke: InvokeIdAndPriority, t: SetTransfer) -> Vec<u8> {
    let block_number = t.last_block;
    match t.target {
        SetTarget::One(attribute, access) => {
            let result = match Data::decode(&t.buf) {
                Ok(v) => objects::set_attribute(ctx, &attribute, access.as_ref(), &v),
                Err(_) => Dar::TypeUnmatched,
            };
            SetResponse::LastDatablock {
                invoke,
                result,
                block_number,
            }
            .encode()
        }
        SetTarget::List(attributes) => {
            let values = decode_values(&t.buf);
            let results = match values {
                Some(v) => set_list(ctx, &attributes, Some(&v)),
                None => vec![Dar::TypeUnmatched; attributes.len()],
            };
            SetResponse::LastDatablockWithList {
                invoke,
                results,
                block_number,
            }
            .encode()
        }
    }
}

/// A count and that many A-XDR values (the raw data of a SET with list in blocks).
fn decode_values(buf: &[u8]) -> Option<Vec<Data>> {
    let (n, mut at) = decode_length(buf).ok()?;
    let mut out = Vec::with_capacity(n.min(buf.len()));
    for _ in 0..n {
        let (d, used) = Data::decode_prefix(buf.get(at..)?).ok()?;
        out.push(d);
        at += used;
    }
    (at == buf.len()).then_some(out)
}

/// Ciphers a response the way its request came (with the key it came with).
fn seal(face: &mut DlmsFace, keys: &Suite0Keys, p: Protection, plain: &[u8]) -> Option<Vec<u8>> {
    let ic = face.server_ic.next_value().ok()?;
    CipheredApdu::seal(plain, p.mode, p.control, &face.system_title, ic, keys)
        .ok()
        .map(|c| c.encode())
}
