//! The association control APDUs (guide §2): AARQ, AARE, RLRQ and RLRE, BER encoded, with the
//! DLMS application context and authentication mechanism names.
//!
//! Fields are decoded in any order and encoded in tag order. Fields this crate does not
//! interpret are kept in `other_fields` and written back unchanged.

use std::fmt;

use super::ber::{
    BerField, integer_value, read_expected, read_small_unsigned, read_tlv, write_integer, write_tlv,
};
use super::initiate::UserInformation;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::reader::{Reader, Result};

const TAG_AARQ: u8 = super::tag::AARQ;
const TAG_AARE: u8 = super::tag::AARE;
const TAG_RLRQ: u8 = super::tag::RLRQ;
const TAG_RLRE: u8 = super::tag::RLRE;

/// The DLMS UA object identifier arc 2.16.756.5.8, BER encoded.
const DLMS_UA_OID: [u8; 5] = [0x60, 0x85, 0x74, 0x05, 0x08];

/// The application context name (guide §2.2): the last arc of 2.16.756.5.8.1.N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationContext(pub u8);

impl ApplicationContext {
    pub const LN: ApplicationContext = ApplicationContext(1);
    pub const SN: ApplicationContext = ApplicationContext(2);
    pub const LN_CIPHERED: ApplicationContext = ApplicationContext(3);
    pub const SN_CIPHERED: ApplicationContext = ApplicationContext(4);

    pub fn is_ciphered(self) -> bool {
        matches!(self.0, 3 | 4)
    }

    pub fn is_logical_name(self) -> bool {
        matches!(self.0, 1 | 3)
    }

    fn oid(self) -> [u8; 7] {
        let [a, b, c, d, e] = DLMS_UA_OID;
        [a, b, c, d, e, 0x01, self.0]
    }
}

impl fmt::Display for ApplicationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("LN, no ciphering"),
            2 => f.write_str("SN, no ciphering"),
            3 => f.write_str("LN with ciphering"),
            4 => f.write_str("SN with ciphering"),
            n => write!(f, "application context {n}"),
        }
    }
}

/// The authentication mechanism name (guide §2.2): the last arc of 2.16.756.5.8.2.M.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName(pub u8);

impl MechanismName {
    pub const LOWEST: MechanismName = MechanismName(0);
    /// LLS, a password.
    pub const LOW: MechanismName = MechanismName(1);
    pub const HIGH_MANUFACTURER: MechanismName = MechanismName(2);
    pub const HIGH_MD5: MechanismName = MechanismName(3);
    pub const HIGH_SHA1: MechanismName = MechanismName(4);
    /// HLS with GMAC (suite 0).
    pub const HIGH_GMAC: MechanismName = MechanismName(5);
    pub const HIGH_SHA256: MechanismName = MechanismName(6);
    pub const HIGH_ECDSA: MechanismName = MechanismName(7);

    fn oid(self) -> [u8; 7] {
        let [a, b, c, d, e] = DLMS_UA_OID;
        [a, b, c, d, e, 0x02, self.0]
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "lowest level security",
            1 => "low level security (password)",
            2 => "high level security, manufacturer specific",
            3 => "high level security, MD5",
            4 => "high level security, SHA-1",
            5 => "high level security, GMAC",
            6 => "high level security, SHA-256",
            7 => "high level security, ECDSA",
            n => return write!(f, "mechanism {n}"),
        };
        f.write_str(name)
    }
}

fn read_oid_arc(c: &mut Reader<'_>, arc: u8, what: &'static str) -> Result<u8> {
    let at = c.offset();
    let b = c.rest();
    match b {
        [a, b2, c2, d, e, kind, n] if [*a, *b2, *c2, *d, *e] == DLMS_UA_OID && *kind == arc => {
            Ok(*n)
        }
        _ => Err(DecodeError::new(
            at,
            what,
            DecodeErrorKind::Invalid("object identifier is not a DLMS UA name"),
        )),
    }
}

/// The result of an association request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssociationResult {
    Accepted,
    RejectedPermanent,
    RejectedTransient,
}

impl AssociationResult {
    pub fn to_u8(self) -> u8 {
        match self {
            AssociationResult::Accepted => 0,
            AssociationResult::RejectedPermanent => 1,
            AssociationResult::RejectedTransient => 2,
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => AssociationResult::Accepted,
            1 => AssociationResult::RejectedPermanent,
            2 => AssociationResult::RejectedTransient,
            _ => return None,
        })
    }
}

/// Diagnostics given by the ACSE service user (the meter's application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcseServiceUser(pub u8);

impl AcseServiceUser {
    pub const NULL: AcseServiceUser = AcseServiceUser(0);
    pub const NO_REASON_GIVEN: AcseServiceUser = AcseServiceUser(1);
    pub const APPLICATION_CONTEXT_NAME_NOT_SUPPORTED: AcseServiceUser = AcseServiceUser(2);
    pub const AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED: AcseServiceUser = AcseServiceUser(11);
    pub const AUTHENTICATION_MECHANISM_NAME_REQUIRED: AcseServiceUser = AcseServiceUser(12);
    pub const AUTHENTICATION_FAILURE: AcseServiceUser = AcseServiceUser(13);
    pub const AUTHENTICATION_REQUIRED: AcseServiceUser = AcseServiceUser(14);

    pub fn description(self) -> &'static str {
        match self.0 {
            0 => "null",
            1 => "no reason given",
            2 => "application context name not supported",
            3 => "calling AP title not recognised",
            4 => "calling AP invocation identifier not recognised",
            5 => "calling AE qualifier not recognised",
            6 => "calling AE invocation identifier not recognised",
            7 => "called AP title not recognised",
            8 => "called AP invocation identifier not recognised",
            9 => "called AE qualifier not recognised",
            10 => "called AE invocation identifier not recognised",
            11 => "authentication mechanism name not recognised",
            12 => "authentication mechanism name required",
            13 => "authentication failure",
            14 => "authentication required",
            _ => "unknown diagnostic",
        }
    }
}

/// Diagnostics given by the ACSE service provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcseServiceProvider(pub u8);

impl AcseServiceProvider {
    pub const NULL: AcseServiceProvider = AcseServiceProvider(0);
    pub const NO_REASON_GIVEN: AcseServiceProvider = AcseServiceProvider(1);
    pub const NO_COMMON_ACSE_VERSION: AcseServiceProvider = AcseServiceProvider(2);

    pub fn description(self) -> &'static str {
        match self.0 {
            0 => "null",
            1 => "no reason given",
            2 => "no common ACSE version",
            _ => "unknown diagnostic",
        }
    }
}

/// The result-source-diagnostic of an AARE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultSourceDiagnostic {
    User(AcseServiceUser),
    Provider(AcseServiceProvider),
}

impl fmt::Display for ResultSourceDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultSourceDiagnostic::User(u) => {
                write!(f, "acse-service-user {}: {}", u.0, u.description())
            }
            ResultSourceDiagnostic::Provider(p) => {
                write!(f, "acse-service-provider {}: {}", p.0, p.description())
            }
        }
    }
}

/// Collects fields for encoding in tag order.
struct Fields(Vec<(u8, Vec<u8>)>);

impl Fields {
    fn new() -> Self {
        Fields(Vec::new())
    }

    fn add(&mut self, tag: u8, content: Vec<u8>) {
        self.0.push((tag, content));
    }

    fn finish(mut self, apdu_tag: u8, others: &[BerField], out: &mut Vec<u8>) {
        for f in others {
            self.0.push((f.tag, f.content.clone()));
        }
        self.0.sort_by_key(|(tag, _)| tag & 0x1F);
        let mut body = Vec::new();
        for (tag, content) in &self.0 {
            write_tlv(&mut body, *tag, content);
        }
        write_tlv(out, apdu_tag, &body);
    }
}

fn explicit_octets(bytes: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(bytes.len() + 2);
    write_tlv(&mut c, 0x04, bytes);
    c
}

fn explicit_integer(v: i64) -> Vec<u8> {
    let mut c = Vec::new();
    write_integer(&mut c, 0x02, v);
    c
}

fn authentication_value(bytes: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(bytes.len() + 2);
    write_tlv(&mut c, 0x80, bytes);
    c
}

fn user_information(ui: &UserInformation) -> Vec<u8> {
    let mut c = Vec::new();
    write_tlv(&mut c, 0x04, &ui.encode());
    c
}

/// `A1`-style application context: `06 07 <OID>`.
fn context_field(ctx: ApplicationContext) -> Vec<u8> {
    let mut c = Vec::with_capacity(9);
    write_tlv(&mut c, 0x06, &ctx.oid());
    c
}

/// The acse-requirements bit string with the authentication functional unit: `07 80`.
const ACSE_REQUIREMENTS_AUTHENTICATION: [u8; 2] = [0x07, 0x80];

fn read_context(c: Reader<'_>) -> Result<ApplicationContext> {
    let mut c = c;
    let mut oid = read_expected(&mut c, 0x06)?;
    c.finish()?;
    Ok(ApplicationContext(read_oid_arc(
        &mut oid,
        0x01,
        "application-context-name",
    )?))
}

fn read_octets_explicit(c: Reader<'_>) -> Result<Vec<u8>> {
    let mut c = c;
    let mut inner = read_expected(&mut c, 0x04)?;
    c.finish()?;
    Ok(inner.rest().to_vec())
}

fn read_integer_explicit(c: Reader<'_>, what: &'static str) -> Result<u32> {
    let mut c = c;
    let inner = read_expected(&mut c, 0x02)?;
    c.finish()?;
    let at = inner.offset();
    let ctx = inner.clone();
    let v = integer_value(inner)?;
    u32::try_from(v).map_err(|_| ctx.invalid(at, what, v as u64))
}

fn read_authentication_value(c: Reader<'_>) -> Result<Vec<u8>> {
    let mut c = c;
    // The charstring choice [0]; the bit-string choice [1] does not occur in DLMS.
    let mut inner = read_expected(&mut c, 0x80)?;
    c.finish()?;
    Ok(inner.rest().to_vec())
}

fn read_acse_requirements(c: Reader<'_>) -> Result<bool> {
    let mut c = c;
    let at = c.offset();
    let b = c.rest();
    match b {
        [_unused, first, ..] => Ok(first & 0x80 != 0),
        [_unused] => Ok(false),
        [] => Err(DecodeError::new(
            at,
            c.context(),
            DecodeErrorKind::Invalid("empty acse-requirements bit string"),
        )),
    }
}

fn read_user_information(c: Reader<'_>) -> Result<UserInformation> {
    let mut c = c;
    let inner = read_expected(&mut c, 0x04)?;
    c.finish()?;
    UserInformation::read_all(inner)
}

fn set_once<T>(slot: &mut Option<T>, v: T, r: &Reader<'_>, at: usize, tag: u8) -> Result<()> {
    if slot.is_some() {
        return Err(r.err_at(at, DecodeErrorKind::DuplicateField(tag)));
    }
    *slot = Some(v);
    Ok(())
}

/// Reads `tag len` of the APDU itself and checks nothing follows it.
fn open<'a>(bytes: &'a [u8], tag: u8, context: &'static str) -> Result<Reader<'a>> {
    let mut r = Reader::new(bytes, context);
    let body = read_expected(&mut r, tag)?;
    r.finish()?;
    Ok(body)
}

/// AARQ: the client's association request.
#[derive(Debug, Clone, PartialEq)]
pub struct Aarq {
    pub application_context: ApplicationContext,
    /// calling-AP-title: the client system title in ciphered contexts and HLS-GMAC.
    pub calling_ap_title: Option<Vec<u8>>,
    /// calling-AE-invocation-id: the user id where Association LN user lists are used.
    pub calling_ae_invocation_id: Option<u32>,
    /// sender-acse-requirements with the authentication functional unit (`8A 02 07 80`).
    pub authentication_functional_unit: bool,
    pub mechanism_name: Option<MechanismName>,
    /// calling-authentication-value: the LLS password or the HLS challenge CtoS.
    pub calling_authentication_value: Option<Vec<u8>>,
    pub user_information: Option<UserInformation>,
    /// Fields kept as received (protocol-version, called-AP-title, …).
    pub other_fields: Vec<BerField>,
}

impl Aarq {
    /// An AARQ with only a context and user information: no authentication.
    pub fn new(application_context: ApplicationContext, user_information: UserInformation) -> Self {
        Aarq {
            application_context,
            calling_ap_title: None,
            calling_ae_invocation_id: None,
            authentication_functional_unit: false,
            mechanism_name: None,
            calling_authentication_value: None,
            user_information: Some(user_information),
            other_fields: Vec::new(),
        }
    }

    /// Sets mechanism and authentication value (password for LLS, CtoS for HLS) and the
    /// authentication functional unit.
    pub fn with_authentication(mut self, mechanism: MechanismName, value: Vec<u8>) -> Self {
        self.authentication_functional_unit = true;
        self.mechanism_name = Some(mechanism);
        self.calling_authentication_value = Some(value);
        self
    }

    pub fn with_calling_ap_title(mut self, title: Vec<u8>) -> Self {
        self.calling_ap_title = Some(title);
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut f = Fields::new();
        f.add(0xA1, context_field(self.application_context));
        if let Some(t) = &self.calling_ap_title {
            f.add(0xA6, explicit_octets(t));
        }
        if let Some(id) = self.calling_ae_invocation_id {
            f.add(0xA9, explicit_integer(i64::from(id)));
        }
        if self.authentication_functional_unit {
            f.add(0x8A, ACSE_REQUIREMENTS_AUTHENTICATION.to_vec());
        }
        if let Some(m) = self.mechanism_name {
            f.add(0x8B, m.oid().to_vec());
        }
        if let Some(v) = &self.calling_authentication_value {
            f.add(0xAC, authentication_value(v));
        }
        if let Some(ui) = &self.user_information {
            f.add(0xBE, user_information(ui));
        }
        f.finish(TAG_AARQ, &self.other_fields, out);
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let body = open(bytes, TAG_AARQ, "AARQ")?;
        Self::read_body(body)
    }

    pub(crate) fn read_body(mut body: Reader<'_>) -> Result<Self> {
        let mut context = None;
        let mut title = None;
        let mut ae_id = None;
        let mut afu = None;
        let mut mechanism = None;
        let mut auth = None;
        let mut ui = None;
        let mut other_fields = Vec::new();
        while !body.is_empty() {
            let (tag, at, mut c) = read_tlv(&mut body)?;
            match tag {
                0xA1 => set_once(&mut context, read_context(c)?, &body, at, tag)?,
                0xA6 => set_once(&mut title, read_octets_explicit(c)?, &body, at, tag)?,
                0xA9 => set_once(
                    &mut ae_id,
                    read_integer_explicit(c, "calling-AE-invocation-id")?,
                    &body,
                    at,
                    tag,
                )?,
                0x8A => set_once(&mut afu, read_acse_requirements(c)?, &body, at, tag)?,
                0x8B => {
                    let m = MechanismName(read_oid_arc(&mut c, 0x02, "mechanism-name")?);
                    set_once(&mut mechanism, m, &body, at, tag)?
                }
                0xAC => set_once(&mut auth, read_authentication_value(c)?, &body, at, tag)?,
                0xBE => set_once(&mut ui, read_user_information(c)?, &body, at, tag)?,
                _ => other_fields.push(BerField {
                    tag,
                    content: c.rest().to_vec(),
                }),
            }
        }
        Ok(Aarq {
            application_context: context
                .ok_or_else(|| body.err(DecodeErrorKind::MissingField(0xA1)))?,
            calling_ap_title: title,
            calling_ae_invocation_id: ae_id,
            authentication_functional_unit: afu.unwrap_or(false),
            mechanism_name: mechanism,
            calling_authentication_value: auth,
            user_information: ui,
            other_fields,
        })
    }
}

/// AARE: the server's association response.
#[derive(Debug, Clone, PartialEq)]
pub struct Aare {
    pub application_context: ApplicationContext,
    pub result: AssociationResult,
    pub diagnostic: ResultSourceDiagnostic,
    /// responding-AP-title: the server system title in ciphered contexts.
    pub responding_ap_title: Option<Vec<u8>>,
    /// responder-acse-requirements with the authentication functional unit (`88 02 07 80`).
    pub authentication_functional_unit: bool,
    pub mechanism_name: Option<MechanismName>,
    /// responding-authentication-value: the HLS challenge StoC.
    pub responding_authentication_value: Option<Vec<u8>>,
    /// InitiateResponse, its ciphered form, or a confirmedServiceError. Some meters leave it out
    /// when they reject (guide §8 item 10).
    pub user_information: Option<UserInformation>,
    pub other_fields: Vec<BerField>,
}

impl Aare {
    /// An accepted association without authentication.
    pub fn accepted(
        application_context: ApplicationContext,
        user_information: UserInformation,
    ) -> Self {
        Aare {
            application_context,
            result: AssociationResult::Accepted,
            diagnostic: ResultSourceDiagnostic::User(AcseServiceUser::NULL),
            responding_ap_title: None,
            authentication_functional_unit: false,
            mechanism_name: None,
            responding_authentication_value: None,
            user_information: Some(user_information),
            other_fields: Vec::new(),
        }
    }

    /// A rejection by the service user with a diagnostic.
    pub fn rejected(
        application_context: ApplicationContext,
        result: AssociationResult,
        diagnostic: AcseServiceUser,
        user_information: Option<UserInformation>,
    ) -> Self {
        Aare {
            application_context,
            result,
            diagnostic: ResultSourceDiagnostic::User(diagnostic),
            responding_ap_title: None,
            authentication_functional_unit: false,
            mechanism_name: None,
            responding_authentication_value: None,
            user_information,
            other_fields: Vec::new(),
        }
    }

    /// The association is fully open (accepted, and no HLS pass still due).
    pub fn is_associated(&self) -> bool {
        self.result == AssociationResult::Accepted
            && self.diagnostic == ResultSourceDiagnostic::User(AcseServiceUser::NULL)
    }

    /// The association is pending HLS passes 3 and 4.
    pub fn needs_hls_passes(&self) -> bool {
        self.result == AssociationResult::Accepted
            && self.diagnostic
                == ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_REQUIRED)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut f = Fields::new();
        f.add(0xA1, context_field(self.application_context));
        f.add(0xA2, explicit_integer(i64::from(self.result.to_u8())));
        let mut diag = Vec::new();
        match self.diagnostic {
            ResultSourceDiagnostic::User(u) => {
                write_tlv(&mut diag, 0xA1, &explicit_integer(i64::from(u.0)))
            }
            ResultSourceDiagnostic::Provider(p) => {
                write_tlv(&mut diag, 0xA2, &explicit_integer(i64::from(p.0)))
            }
        }
        f.add(0xA3, diag);
        if let Some(t) = &self.responding_ap_title {
            f.add(0xA4, explicit_octets(t));
        }
        if self.authentication_functional_unit {
            f.add(0x88, ACSE_REQUIREMENTS_AUTHENTICATION.to_vec());
        }
        if let Some(m) = self.mechanism_name {
            f.add(0x89, m.oid().to_vec());
        }
        if let Some(v) = &self.responding_authentication_value {
            f.add(0xAA, authentication_value(v));
        }
        if let Some(ui) = &self.user_information {
            f.add(0xBE, user_information(ui));
        }
        f.finish(TAG_AARE, &self.other_fields, out);
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let body = open(bytes, TAG_AARE, "AARE")?;
        Self::read_body(body)
    }

    pub(crate) fn read_body(mut body: Reader<'_>) -> Result<Self> {
        let mut context = None;
        let mut result = None;
        let mut diagnostic = None;
        let mut title = None;
        let mut afu = None;
        let mut mechanism = None;
        let mut auth = None;
        let mut ui = None;
        let mut other_fields = Vec::new();
        while !body.is_empty() {
            let (tag, at, mut c) = read_tlv(&mut body)?;
            match tag {
                0xA1 => set_once(&mut context, read_context(c)?, &body, at, tag)?,
                0xA2 => {
                    let inner = read_expected(&mut c, 0x02)?;
                    c.finish()?;
                    let v_at = inner.offset();
                    let v = read_small_unsigned(inner, "association result")?;
                    let res = AssociationResult::from_u8(v)
                        .ok_or_else(|| body.invalid(v_at, "association result", u64::from(v)))?;
                    set_once(&mut result, res, &body, at, tag)?
                }
                0xA3 => {
                    let (choice, choice_at, mut inner) = read_tlv(&mut c)?;
                    c.finish()?;
                    let int = read_expected(&mut inner, 0x02)?;
                    inner.finish()?;
                    let v = read_small_unsigned(int, "result-source-diagnostic")?;
                    let d = match choice {
                        0xA1 => ResultSourceDiagnostic::User(AcseServiceUser(v)),
                        0xA2 => ResultSourceDiagnostic::Provider(AcseServiceProvider(v)),
                        other => {
                            return Err(body.invalid(
                                choice_at,
                                "result-source-diagnostic choice",
                                u64::from(other),
                            ));
                        }
                    };
                    set_once(&mut diagnostic, d, &body, at, tag)?
                }
                0xA4 => set_once(&mut title, read_octets_explicit(c)?, &body, at, tag)?,
                0x88 => set_once(&mut afu, read_acse_requirements(c)?, &body, at, tag)?,
                0x89 => {
                    let m = MechanismName(read_oid_arc(&mut c, 0x02, "mechanism-name")?);
                    set_once(&mut mechanism, m, &body, at, tag)?
                }
                0xAA => set_once(&mut auth, read_authentication_value(c)?, &body, at, tag)?,
                0xBE => set_once(&mut ui, read_user_information(c)?, &body, at, tag)?,
                _ => other_fields.push(BerField {
                    tag,
                    content: c.rest().to_vec(),
                }),
            }
        }
        Ok(Aare {
            application_context: context
                .ok_or_else(|| body.err(DecodeErrorKind::MissingField(0xA1)))?,
            result: result.ok_or_else(|| body.err(DecodeErrorKind::MissingField(0xA2)))?,
            diagnostic: diagnostic.ok_or_else(|| body.err(DecodeErrorKind::MissingField(0xA3)))?,
            responding_ap_title: title,
            authentication_functional_unit: afu.unwrap_or(false),
            mechanism_name: mechanism,
            responding_authentication_value: auth,
            user_information: ui,
            other_fields,
        })
    }
}

/// Reason of a release request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReleaseRequestReason(pub u8);

impl ReleaseRequestReason {
    pub const NORMAL: ReleaseRequestReason = ReleaseRequestReason(0);
    pub const URGENT: ReleaseRequestReason = ReleaseRequestReason(1);
    pub const USER_DEFINED: ReleaseRequestReason = ReleaseRequestReason(30);
}

/// Reason of a release response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReleaseResponseReason(pub u8);

impl ReleaseResponseReason {
    pub const NORMAL: ReleaseResponseReason = ReleaseResponseReason(0);
    pub const NOT_FINISHED: ReleaseResponseReason = ReleaseResponseReason(1);
    pub const USER_DEFINED: ReleaseResponseReason = ReleaseResponseReason(30);
}

fn read_release(
    mut body: Reader<'_>,
) -> Result<(Option<u8>, Option<UserInformation>, Vec<BerField>)> {
    let mut reason = None;
    let mut ui = None;
    let mut others = Vec::new();
    while !body.is_empty() {
        let (tag, at, mut c) = read_tlv(&mut body)?;
        match tag {
            0x80 => set_once(
                &mut reason,
                read_small_unsigned(c, "release reason")?,
                &body,
                at,
                tag,
            )?,
            0xBE => set_once(&mut ui, read_user_information(c)?, &body, at, tag)?,
            _ => others.push(BerField {
                tag,
                content: c.rest().to_vec(),
            }),
        }
    }
    Ok((reason, ui, others))
}

fn write_release(
    apdu_tag: u8,
    reason: Option<u8>,
    ui: &Option<UserInformation>,
    others: &[BerField],
    out: &mut Vec<u8>,
) {
    let mut f = Fields::new();
    if let Some(r) = reason {
        f.add(0x80, super::ber::integer_content(i64::from(r)));
    }
    if let Some(ui) = ui {
        f.add(0xBE, user_information(ui));
    }
    f.finish(apdu_tag, others, out);
}

/// RLRQ: release request. In ciphered associations it may carry the ciphered InitiateRequest;
/// for unciphered ones leave `user_information` empty (guide §2.8).
#[derive(Debug, Clone, PartialEq)]
pub struct Rlrq {
    pub reason: Option<ReleaseRequestReason>,
    pub user_information: Option<UserInformation>,
    pub other_fields: Vec<BerField>,
}

impl Rlrq {
    /// `62 03 80 01 00`.
    pub fn normal() -> Self {
        Rlrq {
            reason: Some(ReleaseRequestReason::NORMAL),
            user_information: None,
            other_fields: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        write_release(
            TAG_RLRQ,
            self.reason.map(|r| r.0),
            &self.user_information,
            &self.other_fields,
            out,
        );
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        Self::read_body(open(bytes, TAG_RLRQ, "RLRQ")?)
    }

    pub(crate) fn read_body(body: Reader<'_>) -> Result<Self> {
        let (reason, user_information, other_fields) = read_release(body)?;
        Ok(Rlrq {
            reason: reason.map(ReleaseRequestReason),
            user_information,
            other_fields,
        })
    }
}

/// RLRE: release response.
#[derive(Debug, Clone, PartialEq)]
pub struct Rlre {
    pub reason: Option<ReleaseResponseReason>,
    pub user_information: Option<UserInformation>,
    pub other_fields: Vec<BerField>,
}

impl Rlre {
    /// `63 03 80 01 00`.
    pub fn normal() -> Self {
        Rlre {
            reason: Some(ReleaseResponseReason::NORMAL),
            user_information: None,
            other_fields: Vec::new(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        write_release(
            TAG_RLRE,
            self.reason.map(|r| r.0),
            &self.user_information,
            &self.other_fields,
            out,
        );
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        Self::read_body(open(bytes, TAG_RLRE, "RLRE")?)
    }

    pub(crate) fn read_body(body: Reader<'_>) -> Result<Self> {
        let (reason, user_information, other_fields) = read_release(body)?;
        Ok(Rlre {
            reason: reason.map(ReleaseResponseReason),
            user_information,
            other_fields,
        })
    }
}
