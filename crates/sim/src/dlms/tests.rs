//! The DLMS face against our own codec: association with each client and each fault, GET /
//! SET / ACTION dispatch, selective access, block transfer, access rights, ciphering, the HDLC
//! link, and a connection dropped in the middle of a block transfer.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use metermaster_dlms::Data;
use metermaster_dlms::apdu::{
    Aare, Aarq, AcseServiceUser, ActionRequest, ActionResponse, Apdu, ApplicationContext,
    AssociationResult, AttributeDescriptor, AttributeRequest, CaptureObjectDefinition, Conformance,
    DataAccessResult as Dar, DataBlock, DataBlockResult, EntryDescriptor, GetDataResult,
    GetRequest, GetResponse, InitiateRequest, InvokeIdAndPriority, MechanismName, MethodDescriptor,
    RangeDescriptor, ResultSourceDiagnostic, Rlrq, SelectiveAccess, ServiceError, SetRequest,
    SetResponse, UserInformation,
};
use metermaster_dlms::axdr::{ClockStatus, CosemDateTime};
use metermaster_dlms::hdlc::{
    AddressSize, Control, Direction, FrameSplitter, HdlcAddress, HdlcFrame, HdlcParameters,
    Reassembler, information_frames,
};
use metermaster_dlms::security::{
    CipheredApdu, CipheringMode, SecurityControl, Suite0Keys, SystemTitle, hls_gmac_response,
    verify_hls_gmac,
};
use metermaster_dlms::wrapper::{WrapperFrame, WrapperSplitter};
use metermaster_flag::ids::MeterModel;
use metermaster_flag::profile::to_load_profile;
use metermaster_model::ObisCode;
use std::sync::{Arc, Mutex};

use super::hdlc_link::{HdlcServerLink, LinkOutput};
use super::objects::{self, profile_status};
use super::*;
use crate::load::mix;
use crate::meter::MeterConfig;

const INVOKE: InvokeIdAndPriority = InvokeIdAndPriority(0xC1);
const CLIENT_TITLE: SystemTitle = SystemTitle(*b"MMM\x00\x00\x00\x00\x01");

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 3, 5)
        .unwrap()
        .and_hms_opt(14, 0, 0)
        .unwrap()
}

fn sim(seed: u64) -> DlmsMeter {
    let cfg = MeterConfig::new("10000001", MeterModel::A1140, seed, start());
    DlmsMeter::new(Arc::new(Mutex::new(SimMeter::new(cfg))))
}

fn clock_attr(attr: i8) -> AttributeDescriptor {
    AttributeDescriptor::new(8, objects::CLOCK, attr)
}

fn register(c: u8, d: u8, e: u8, attr: i8) -> AttributeDescriptor {
    AttributeDescriptor::new(3, ObisCode::elec(c, d, e), attr)
}

fn profile(attr: i8) -> AttributeDescriptor {
    AttributeDescriptor::new(7, objects::LOAD_PROFILE, attr)
}

/// A client talking to an [`Association`] directly.
struct Client {
    meter: DlmsMeter,
    secrets: DlmsSecrets,
    assoc: Association,
    /// Ciphering for the management client: (keys, next IC, mode).
    cipher: Option<(Suite0Keys, u32, CipheringMode)>,
}

impl Client {
    fn new(meter: &DlmsMeter, sap: u16) -> Self {
        Client {
            meter: meter.clone(),
            secrets: DlmsSecrets::default(),
            assoc: Association::new(sap),
            cipher: None,
        }
    }

    fn raw(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        self.assoc.handle(&self.meter, &self.secrets, apdu)
    }

    fn server_title(&self) -> SystemTitle {
        lock(&self.meter.face).system_title
    }

    /// Sends an xDLMS request (ciphered when the client ciphers) and decodes the answer.
    fn send(&mut self, apdu: &Apdu) -> Apdu {
        let plain = apdu.encode();
        let bytes = match &mut self.cipher {
            Some((keys, ic, mode)) => {
                let c = CipheredApdu::seal(
                    &plain,
                    *mode,
                    SecurityControl::AUTHENTICATED_ENCRYPTED,
                    &CLIENT_TITLE,
                    *ic,
                    keys,
                )
                .unwrap();
                *ic += 1;
                c.encode()
            }
            None => plain,
        };
        let reply = self.raw(&bytes).expect("an answer");
        match Apdu::decode(&reply).unwrap() {
            Apdu::Ciphered(c) => {
                let (keys, _, _) = self.cipher.as_ref().expect("ciphering set up");
                let server = self.server_title();
                Apdu::decode(&c.open(keys, Some(&server)).unwrap()).unwrap()
            }
            other => other,
        }
    }

    fn associate(&mut self, aarq: Aarq) -> Aare {
        let reply = self.raw(&aarq.encode()).expect("an AARE");
        match Apdu::decode(&reply).unwrap() {
            Apdu::Aare(a) => a,
            other => panic!("expected an AARE, got {other:?}"),
        }
    }

    fn get_with(
        &mut self,
        a: AttributeDescriptor,
        access: Option<SelectiveAccess>,
    ) -> (Result<Data, Dar>, usize) {
        let mut resp = self.send(&Apdu::GetRequest(GetRequest::Normal {
            invoke: INVOKE,
            attribute: a,
            access,
        }));
        let mut raw = Vec::new();
        let mut blocks = 0;
        loop {
            match resp {
                Apdu::GetResponse(GetResponse::Normal { result, .. }) => {
                    return (result.into_result(), blocks);
                }
                Apdu::GetResponse(GetResponse::WithDatablock { block, .. }) => {
                    blocks += 1;
                    assert_eq!(block.block_number as usize, blocks, "block numbers from 1");
                    match block.result {
                        DataBlockResult::RawData(d) => raw.extend(d),
                        DataBlockResult::Error(e) => return (Err(e), blocks),
                    }
                    if block.last_block {
                        return (Ok(Data::decode(&raw).unwrap()), blocks);
                    }
                    resp = self.send(&Apdu::GetRequest(GetRequest::Next {
                        invoke: INVOKE,
                        block_number: block.block_number,
                    }));
                }
                other => panic!("unexpected answer to GET: {other:?}"),
            }
        }
    }

    fn get(&mut self, a: AttributeDescriptor) -> Result<Data, Dar> {
        self.get_with(a, None).0
    }

    fn set(&mut self, a: AttributeDescriptor, value: Data) -> Dar {
        match self.send(&Apdu::SetRequest(SetRequest::normal(INVOKE, a, value))) {
            Apdu::SetResponse(SetResponse::Normal { result, .. }) => result,
            other => panic!("unexpected answer to SET: {other:?}"),
        }
    }

    fn action(&mut self, m: MethodDescriptor, p: Option<Data>) -> (Dar, Option<Data>) {
        match self.send(&Apdu::ActionRequest(ActionRequest::normal(INVOKE, m, p))) {
            Apdu::ActionResponse(ActionResponse::Normal { response, .. }) => (
                response.result,
                response
                    .return_parameters
                    .and_then(|r| r.into_result().ok()),
            ),
            other => panic!("unexpected answer to ACTION: {other:?}"),
        }
    }
}

fn initiate(pdu: u16) -> InitiateRequest {
    InitiateRequest::new(Conformance::GREEN_BOOK_PROPOSAL, pdu)
}

fn public(meter: &DlmsMeter, pdu: u16) -> Client {
    let mut c = Client::new(meter, PUBLIC_CLIENT);
    let aare = c.associate(Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(pdu)),
    ));
    assert!(aare.is_associated(), "{aare:?}");
    c
}

fn reader(meter: &DlmsMeter, password: &[u8]) -> (Client, Aare) {
    let mut c = Client::new(meter, READER_CLIENT);
    let aare = c.associate(
        Aarq::new(
            ApplicationContext::LN,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .with_authentication(MechanismName::LOW, password.to_vec()),
    );
    (c, aare)
}

/// HLS-GMAC passes 1–4 in the plain LN context; `keys` are the client's.
fn management(meter: &DlmsMeter, keys: &Suite0Keys) -> (Client, Dar) {
    let mut c = Client::new(meter, MANAGEMENT_CLIENT);
    let ctos = b"K56iVagYxyzw".to_vec();
    let aare = c.associate(
        Aarq::new(
            ApplicationContext::LN,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .with_authentication(MechanismName::HIGH_GMAC, ctos.clone())
        .with_calling_ap_title(CLIENT_TITLE.0.to_vec()),
    );
    assert!(aare.needs_hls_passes(), "{aare:?}");
    let stoc = aare.responding_authentication_value.clone().unwrap();
    let server = SystemTitle::from_slice(aare.responding_ap_title.as_deref().unwrap()).unwrap();
    assert_eq!(server, c.server_title());
    let f = hls_gmac_response(keys, &CLIENT_TITLE, 7, &stoc);
    let (result, data) = c.action(
        MethodDescriptor::new(15, objects::ASSOCIATION_LN, 1),
        Some(Data::OctetString(f)),
    );
    if result == Dar::Success {
        let Some(Data::OctetString(f_ctos)) = data else {
            panic!("no f(CtoS)")
        };
        verify_hls_gmac(&c.secrets.keys, &server, &ctos, &f_ctos).expect("meter's f(CtoS)");
    }
    (c, result)
}

fn right_keys() -> Suite0Keys {
    Suite0Keys::new(GLOBAL_ENCRYPTION_KEY, GLOBAL_AUTHENTICATION_KEY)
}

#[test]
fn public_client_reads_clock_and_registers_exactly() {
    let m = sim(1);
    let mut c = public(&m, 1200);
    let clock = c.get(clock_attr(2)).unwrap();
    let dt = clock.to_date_time().unwrap();
    assert_eq!(dt.to_naive_local().unwrap(), lock(&m.meter).now());
    assert_eq!(dt.deviation(), Some(0), "factory meters keep GMT");
    assert_eq!(dt.status, ClockStatus::OK);
    assert_eq!(c.get(clock_attr(3)).unwrap(), Data::Long(0));

    let total = {
        let mut mm = lock(&m.meter);
        let now = mm.model_now();
        mm.totals_at(now)
    };
    for (channel, c_code) in objects::CHANNEL_C.iter().enumerate() {
        let v = c.get(register(*c_code, 8, 0, 2)).unwrap();
        assert_eq!(v, Data::Long64Unsigned(total.energy[channel]), "C={c_code}");
    }
    // Wh with scaler -3: value × 10^-3 Wh is the meter's mWh exactly.
    let su = c.get(register(1, 8, 0, 3)).unwrap();
    assert_eq!(su, Data::Structure(vec![Data::Integer(-3), Data::Enum(30)]));
    assert_eq!(
        c.get(register(5, 8, 0, 3)).unwrap(),
        Data::Structure(vec![Data::Integer(-3), Data::Enum(32)])
    );
    // The factory TOU registers: import day + night = import total.
    let r1 = c.get(register(1, 8, 1, 2)).unwrap().as_u64().unwrap();
    let r2 = c.get(register(1, 8, 2, 2)).unwrap().as_u64().unwrap();
    assert_eq!(r1 + r2, total.energy[0]);
    assert_eq!(r1, total.tou[0]);
    // The logical name attribute of every object is its OBIS code.
    assert_eq!(
        c.get(register(1, 8, 0, 1)).unwrap(),
        Data::logical_name(ObisCode::elec(1, 8, 0))
    );
    // Serial number and maximum demand.
    assert_eq!(
        c.get(AttributeDescriptor::new(1, objects::SERIAL, 2))
            .unwrap(),
        Data::visible_string("10000001")
    );
    let md = {
        let mut mm = lock(&m.meter);
        let now = mm.model_now();
        mm.md_at(now)[0][0]
    };
    let md_attr = |a| AttributeDescriptor::new(4, ObisCode::elec(1, 6, 0), a);
    assert_eq!(c.get(md_attr(2)).unwrap().as_u64(), Some(md.0));
    let at = c.get(md_attr(5)).unwrap().to_date_time().unwrap();
    assert_eq!(at.to_naive_local().ok(), md.1);
}

#[test]
fn instantaneous_values_follow_the_flag_formulas() {
    let m = sim(5);
    let mut c = public(&m, 1200);
    let get = |c: &mut Client, code| c.get(register(code, 7, 0, 2)).unwrap();
    let v = get(&mut c, 32).as_i64().unwrap();
    assert!((2_270_000..=2_330_000).contains(&v), "voltage {v}");
    let import = get(&mut c, 1).as_i64().unwrap();
    let export = get(&mut c, 2).as_i64().unwrap();
    assert_eq!(get(&mut c, 16), Data::DoubleLong((import - export) as i32));
    assert_eq!(
        c.get(register(32, 7, 0, 3)).unwrap(),
        Data::Structure(vec![Data::Integer(-4), Data::Enum(35)])
    );
    // The demand register's current average is the import demand of the current interval.
    let d = c
        .get(AttributeDescriptor::new(5, ObisCode::elec(1, 4, 0), 2))
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(import * 100, d, "0.1 W and mW of the same demand");
}

#[test]
fn object_list_comes_in_blocks_with_access_rights_per_client() {
    let m = sim(1);
    let ln = AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2);
    let mut c = public(&m, 0xFFFF);
    let (list, blocks) = c.get_with(ln, None);
    let list = list.unwrap();
    assert!(blocks > 1, "the object list needs GET blocks");
    let entries = list.as_elements().unwrap();
    let find = |entries: &[Data], obis: ObisCode| {
        entries
            .iter()
            .find(|e| e.as_elements().unwrap()[2] == Data::logical_name(obis))
            .cloned()
    };
    let clock = find(entries, objects::CLOCK).expect("clock listed");
    let f = clock.as_elements().unwrap();
    assert_eq!(f[0], Data::LongUnsigned(8));
    let rights = f[3].as_elements().unwrap();
    let attrs = rights[0].as_elements().unwrap();
    assert_eq!(attrs.len(), 9);
    // Public: attribute 2 read only; no method.
    assert_eq!(attrs[1].as_elements().unwrap()[1], Data::Enum(1));
    assert!(
        rights[1]
            .as_elements()
            .unwrap()
            .iter()
            .all(|m| m.as_elements().unwrap()[1] == Data::Enum(0))
    );
    assert!(
        find(entries, objects::EVENT_LOG).is_none(),
        "not for the public client"
    );
    assert!(find(entries, objects::LOAD_PROFILE).is_some());

    let (mut r, aare) = reader(&m, LLS_PASSWORD);
    assert!(aare.is_associated());
    let list = r.get(ln).unwrap();
    let entries = list.as_elements().unwrap();
    assert!(find(entries, objects::EVENT_LOG).is_some());
    let clock = find(entries, objects::CLOCK).unwrap();
    let rights = clock.as_elements().unwrap()[3]
        .as_elements()
        .unwrap()
        .to_vec();
    let attr2 = &rights[0].as_elements().unwrap()[1];
    assert_eq!(
        attr2.as_elements().unwrap()[1],
        Data::Enum(3),
        "reader may write the clock"
    );
    let m6 = &rights[1].as_elements().unwrap()[5];
    assert_eq!(m6.as_elements().unwrap()[1], Data::Enum(1), "and shift it");
    // The profile's buffer lists its selectors.
    let lp = find(entries, objects::LOAD_PROFILE).unwrap();
    let a2 = lp.as_elements().unwrap()[3].as_elements().unwrap()[0]
        .as_elements()
        .unwrap()[1]
        .clone();
    assert_eq!(
        a2.as_elements().unwrap()[2],
        Data::Array(vec![Data::Integer(1), Data::Integer(2)])
    );
}

#[test]
fn access_rights_and_errors() {
    let m = sim(1);
    let mut c = public(&m, 1200);
    let ev = AttributeDescriptor::new(7, objects::EVENT_LOG, 2);
    assert_eq!(c.get(ev), Err(Dar::ReadWriteDenied));
    assert_eq!(
        c.get(AttributeDescriptor::new(3, ObisCode::elec(1, 8, 99), 2)),
        Err(Dar::ObjectUndefined)
    );
    assert_eq!(
        c.get(AttributeDescriptor::new(4, ObisCode::elec(1, 8, 0), 2)),
        Err(Dar::ObjectClassInconsistent)
    );
    assert_eq!(c.get(register(1, 8, 0, 4)), Err(Dar::ObjectUndefined));
    assert_eq!(
        c.get_with(register(1, 8, 0, 2), Some(EntryDescriptor::ALL.into()))
            .0,
        Err(Dar::OtherReason)
    );
    // Association LN secret: never readable.
    assert_eq!(
        c.get(AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 7)),
        Err(Dar::ReadWriteDenied)
    );
    // Public may not write or call anything.
    let now = lock(&m.meter).now();
    let dt = CosemDateTime::from_naive_local(now, Some(0), ClockStatus::OK).unwrap();
    assert_eq!(
        c.set(clock_attr(2), Data::date_time_octets(dt)),
        Dar::ReadWriteDenied
    );
    let (r, _) = c.action(
        MethodDescriptor::new(8, objects::CLOCK, 6),
        Some(Data::Long(5)),
    );
    assert_eq!(r, Dar::ReadWriteDenied);
    let (r, _) = c.action(
        MethodDescriptor::new(70, objects::DISCONNECT_CONTROL, 1),
        Some(Data::Integer(0)),
    );
    assert_eq!(r, Dar::ReadWriteDenied);

    // With list: each result on its own.
    let resp = c.send(&Apdu::GetRequest(GetRequest::WithList {
        invoke: INVOKE,
        attributes: vec![
            AttributeRequest::new(clock_attr(2)),
            AttributeRequest::new(ev),
            AttributeRequest::new(register(1, 8, 0, 3)),
        ],
    }));
    let Apdu::GetResponse(GetResponse::WithList { results, .. }) = resp else {
        panic!("{resp:?}")
    };
    assert!(matches!(results[0], GetDataResult::Data(_)));
    assert_eq!(results[1], GetDataResult::Error(Dar::ReadWriteDenied));
    assert!(matches!(
        results[2],
        GetDataResult::Data(Data::Structure(_))
    ));

    // An APDU longer than the meter takes, an unknown tag, garbage.
    let long = vec![0xC0; 2000];
    let e = Apdu::decode(&c.raw(&long).unwrap()).unwrap();
    assert!(
        matches!(e, Apdu::ExceptionResponse(x) if x.service_error == ServiceError::PduTooLong),
        "{e:?}"
    );
    let e = Apdu::decode(&c.raw(&[0xE7, 1, 2]).unwrap()).unwrap();
    assert!(matches!(e, Apdu::ExceptionResponse(_)));
    let e = Apdu::decode(&c.raw(&[0xC0, 0x01]).unwrap()).unwrap();
    assert!(matches!(e, Apdu::ExceptionResponse(_)));
    // Still associated after all that.
    assert!(c.get(clock_attr(2)).is_ok());
}

#[test]
fn requests_before_association_get_an_exception() {
    let m = sim(1);
    let mut c = Client::new(&m, PUBLIC_CLIENT);
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(INVOKE, clock_attr(2))));
    assert!(matches!(resp, Apdu::ExceptionResponse(_)), "{resp:?}");
    // An unknown client SAP is rejected.
    let mut x = Client::new(&m, 99);
    let aare = x.associate(Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(1200)),
    ));
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    // The public client does not get a ciphered context or a password mechanism.
    let mut p = Client::new(&m, PUBLIC_CLIENT);
    let aare = p.associate(
        Aarq::new(
            ApplicationContext::LN,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .with_authentication(MechanismName::LOW, b"12345678".to_vec()),
    );
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
    );
    // A PDU size too small and an old DLMS version.
    let aare = p.associate(Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(16)),
    ));
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    assert!(matches!(
        aare.user_information,
        Some(UserInformation::ConfirmedServiceError(_))
    ));
    // RLRQ, then nothing works until the next AARQ.
    let mut c = public(&m, 1200);
    let rlre = c.raw(&Rlrq::normal().encode()).unwrap();
    assert!(matches!(Apdu::decode(&rlre).unwrap(), Apdu::Rlre(_)));
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(INVOKE, clock_attr(2))));
    assert!(matches!(resp, Apdu::ExceptionResponse(_)));
}

#[test]
fn wrong_password_is_an_authentication_failure() {
    let m = sim(1);
    let (mut c, aare) = reader(&m, b"87654321");
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_FAILURE)
    );
    assert!(!c.assoc.is_associated());
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(INVOKE, clock_attr(2))));
    assert!(matches!(resp, Apdu::ExceptionResponse(_)));
    // No mechanism at all: "mechanism name required".
    let mut c = Client::new(&m, READER_CLIENT);
    let aare = c.associate(Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(1200)),
    ));
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_MECHANISM_NAME_REQUIRED)
    );
    let (_, aare) = reader(&m, LLS_PASSWORD);
    assert!(aare.is_associated());
}

#[test]
fn hls_gmac_with_the_right_key_and_a_wrong_one() {
    let m = sim(1);
    let (mut c, r) = management(&m, &right_keys());
    assert_eq!(r, Dar::Success);
    assert!(c.assoc.is_associated());
    assert!(c.get(clock_attr(2)).is_ok());

    let wrong = Suite0Keys::new(GLOBAL_ENCRYPTION_KEY, [0x55; 16]);
    let (mut c, r) = management(&m, &wrong);
    assert_eq!(r, Dar::ReadWriteDenied, "pass 3 fails");
    assert!(!c.assoc.is_associated() && !c.assoc.is_pending());
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(INVOKE, clock_attr(2))));
    assert!(matches!(resp, Apdu::ExceptionResponse(_)));

    // While pending only pass 3 is allowed.
    let mut c = Client::new(&m, MANAGEMENT_CLIENT);
    let aare = c.associate(
        Aarq::new(
            ApplicationContext::LN,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .with_authentication(MechanismName::HIGH_GMAC, b"0123456789".to_vec())
        .with_calling_ap_title(CLIENT_TITLE.0.to_vec()),
    );
    assert!(aare.needs_hls_passes());
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(INVOKE, clock_attr(2))));
    assert!(matches!(resp, Apdu::ExceptionResponse(_)), "{resp:?}");
}

/// The management client in the ciphered context: glo-initiate-request, ciphered pass 3,
/// general-glo-ciphering and glo- requests, replay protection; a wrong key is refused at the
/// AARQ.
#[test]
fn ciphered_management_association() {
    let m = sim(1);
    let keys = right_keys();
    let associate = |keys: &Suite0Keys, ic: u32| {
        let mut c = Client::new(&m, MANAGEMENT_CLIENT);
        let ir = CipheredApdu::seal(
            &initiate(1200).encode(),
            CipheringMode::Global,
            SecurityControl::AUTHENTICATED_ENCRYPTED,
            &CLIENT_TITLE,
            ic,
            keys,
        )
        .unwrap();
        let aare = c.associate(
            Aarq::new(
                ApplicationContext::LN_CIPHERED,
                UserInformation::Ciphered(ir),
            )
            .with_authentication(MechanismName::HIGH_GMAC, b"ABCDEFGH".to_vec())
            .with_calling_ap_title(CLIENT_TITLE.0.to_vec()),
        );
        (c, aare)
    };
    let (_, aare) = associate(&Suite0Keys::new([9; 16], [9; 16]), 1);
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    assert_eq!(
        aare.diagnostic,
        ResultSourceDiagnostic::User(AcseServiceUser::AUTHENTICATION_FAILURE)
    );

    let (mut c, aare) = associate(&keys, 1);
    assert!(aare.needs_hls_passes(), "{aare:?}");
    let server = c.server_title();
    let Some(UserInformation::Ciphered(ui)) = &aare.user_information else {
        panic!("ciphered initiate response expected")
    };
    let plain = ui.open(&keys, Some(&server)).unwrap();
    let Apdu::InitiateResponse(ir) = Apdu::decode(&plain).unwrap() else {
        panic!()
    };
    assert!(ir.negotiated_conformance.has(Conformance::GET));
    assert_eq!(ir.server_max_receive_pdu_size, SERVER_MAX_PDU);

    c.cipher = Some((keys.clone(), 2, CipheringMode::Global));
    let stoc = aare.responding_authentication_value.unwrap();
    let f = hls_gmac_response(&keys, &CLIENT_TITLE, 2, &stoc);
    let (r, _) = c.action(
        MethodDescriptor::new(15, objects::ASSOCIATION_LN, 1),
        Some(Data::OctetString(f)),
    );
    assert_eq!(r, Dar::Success);
    assert!(c.get(clock_attr(2)).is_ok());
    // General-glo-ciphering, as dlms-cosem sends it.
    if let Some(x) = c.cipher.as_mut() {
        x.2 = CipheringMode::GeneralGlobal;
    }
    let list = c
        .get(AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2))
        .unwrap();
    assert!(list.as_elements().unwrap().len() > 30);
    // The invocation counter object shows the last counter taken (this GET's).
    let ic = c
        .get(AttributeDescriptor::new(1, objects::INVOCATION_COUNTER, 2))
        .unwrap();
    let used = c.cipher.as_ref().unwrap().1 - 1;
    assert_eq!(ic, Data::DoubleLongUnsigned(used));
    // A replayed counter is refused.
    let replay = CipheredApdu::seal(
        &GetRequest::normal(INVOKE, clock_attr(2)).encode(),
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &CLIENT_TITLE,
        2,
        &keys,
    )
    .unwrap();
    let e = Apdu::decode(&c.raw(&replay.encode()).unwrap()).unwrap();
    assert!(
        matches!(e, Apdu::ExceptionResponse(x) if matches!(x.service_error, ServiceError::InvocationCounterError(_))),
        "{e:?}"
    );
    // A plain request in the ciphered association is refused.
    let e = Apdu::decode(
        &c.raw(&GetRequest::normal(INVOKE, clock_attr(2)).encode())
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(e, Apdu::ExceptionResponse(_)));
    // A tampered APDU does not open.
    let mut bad = CipheredApdu::seal(
        &GetRequest::normal(INVOKE, clock_attr(2)).encode(),
        CipheringMode::Global,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &CLIENT_TITLE,
        1000,
        &keys,
    )
    .unwrap()
    .encode();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let e = Apdu::decode(&c.raw(&bad).unwrap()).unwrap();
    assert!(
        matches!(e, Apdu::ExceptionResponse(x) if x.service_error == ServiceError::DecipheringError),
        "{e:?}"
    );
}

#[test]
fn clock_trim_set_and_shift_follow_the_flag_rules() {
    let m = sim(1);
    let log_len = || lock(&m.meter).programming.len();
    let before = log_len();
    let (mut r, aare) = reader(&m, LLS_PASSWORD);
    assert!(aare.is_associated());
    let now = lock(&m.meter).now();
    let at = |t: NaiveDateTime| {
        Data::date_time_octets(
            CosemDateTime::from_naive_local(t, Some(0), ClockStatus::OK).unwrap(),
        )
    };
    assert_eq!(
        r.set(clock_attr(2), at(now + Duration::seconds(10))),
        Dar::Success
    );
    assert_eq!(lock(&m.meter).now(), now + Duration::seconds(10));
    assert_eq!(log_len(), before, "a trim is not programming");
    assert_eq!(
        r.set(clock_attr(2), at(now + Duration::seconds(600))),
        Dar::ReadWriteDenied,
        "a time set needs the management client"
    );
    let shift = MethodDescriptor::new(8, objects::CLOCK, 6);
    assert_eq!(r.action(shift, Some(Data::Long(-20))).0, Dar::Success);
    assert_eq!(lock(&m.meter).now(), now - Duration::seconds(10));
    assert_eq!(
        r.action(shift, Some(Data::Long(300))).0,
        Dar::ReadWriteDenied
    );
    assert_eq!(r.action(shift, Some(Data::Long(5000))).0, Dar::OtherReason);
    assert_eq!(
        r.action(shift, Some(Data::visible_string("x"))).0,
        Dar::TypeUnmatched
    );
    // A deviation other than the meter's is converted: 15:00 at UTC+1 is 14:00 GMT.
    let t = lock(&m.meter).now() + Duration::seconds(5);
    let plus_one =
        CosemDateTime::from_naive_local(t + Duration::hours(1), Some(-60), ClockStatus::OK)
            .unwrap();
    assert_eq!(
        r.set(clock_attr(2), Data::date_time_octets(plus_one)),
        Dar::Success
    );
    assert_eq!(lock(&m.meter).now(), t);
    assert_eq!(r.set(clock_attr(2), Data::Unsigned(1)), Dar::TypeUnmatched);

    let (mut g, res) = management(&m, &right_keys());
    assert_eq!(res, Dar::Success);
    let now = lock(&m.meter).now();
    assert_eq!(
        g.set(clock_attr(2), at(now + Duration::hours(1))),
        Dar::Success
    );
    assert_eq!(log_len(), before + 1, "a time set is programming");
    let last = lock(&m.meter).programming.last().cloned().unwrap();
    assert_eq!(last.user, "DLMS-SAP1");
    assert_eq!(last.note.kind, 2);
    // The programming log shows it, to the reader.
    let rows = r
        .get(AttributeDescriptor::new(7, objects::PROGRAMMING_LOG, 2))
        .unwrap();
    let rows = rows.as_elements().unwrap();
    assert_eq!(rows.len(), before + 1);
    let lastrow = rows.last().unwrap().as_elements().unwrap();
    assert_eq!(lastrow[1], Data::Unsigned(2));
    assert_eq!(lastrow[2], Data::visible_string("DLMS-SAP1"));
}

#[test]
fn set_with_data_blocks() {
    let m = sim(1);
    let (mut r, _) = reader(&m, LLS_PASSWORD);
    let now = lock(&m.meter).now();
    let value = Data::date_time_octets(
        CosemDateTime::from_naive_local(now + Duration::seconds(3), Some(0), ClockStatus::OK)
            .unwrap(),
    )
    .encode();
    let first = SetRequest::WithFirstDatablock {
        invoke: INVOKE,
        attribute: clock_attr(2),
        access: None,
        block: DataBlock {
            last_block: false,
            block_number: 1,
            raw_data: value[..6].to_vec(),
        },
    };
    let resp = r.send(&Apdu::SetRequest(first.clone()));
    assert!(matches!(
        resp,
        Apdu::SetResponse(SetResponse::Datablock {
            block_number: 1,
            ..
        })
    ));
    let next = SetRequest::WithDatablock {
        invoke: INVOKE,
        block: DataBlock {
            last_block: true,
            block_number: 2,
            raw_data: value[6..].to_vec(),
        },
    };
    let resp = r.send(&Apdu::SetRequest(next.clone()));
    assert_eq!(
        resp,
        Apdu::SetResponse(SetResponse::LastDatablock {
            invoke: INVOKE,
            result: Dar::Success,
            block_number: 2
        })
    );
    assert_eq!(lock(&m.meter).now(), now + Duration::seconds(3));
    // A block out of sequence, and a block with no transfer.
    r.send(&Apdu::SetRequest(first));
    let skip = SetRequest::WithDatablock {
        invoke: INVOKE,
        block: DataBlock {
            last_block: true,
            block_number: 3,
            raw_data: value[6..].to_vec(),
        },
    };
    let resp = r.send(&Apdu::SetRequest(skip));
    assert!(matches!(
        resp,
        Apdu::SetResponse(SetResponse::LastDatablock {
            result: Dar::DataBlockNumberInvalid,
            ..
        })
    ));
    let resp = r.send(&Apdu::SetRequest(next));
    assert!(matches!(
        resp,
        Apdu::SetResponse(SetResponse::LastDatablock {
            result: Dar::NoLongSetInProgress,
            ..
        })
    ));
}

fn range(from: NaiveDateTime, to: NaiveDateTime, deviation: Option<i16>) -> SelectiveAccess {
    let dt = |t| {
        Data::date_time_octets(
            CosemDateTime::from_naive_local(t, deviation, ClockStatus::NOT_SPECIFIED).unwrap(),
        )
    };
    RangeDescriptor {
        restricting_object: CaptureObjectDefinition::CLOCK_TIME,
        from_value: dt(from),
        to_value: dt(to),
        selected_values: Vec::new(),
    }
    .into()
}

/// The load profile by range: the same intervals and values as the FLAG profile of the day,
/// stamped with their ends; also over a power cut.
#[test]
fn load_profile_range_is_the_flag_profile() {
    // A seed and day with a power cut in the history.
    let (m, day) = (0..40u64)
        .find_map(|seed| {
            let m = sim(seed);
            let found = {
                let mm = lock(&m.meter);
                let mut d = mm.history_start().date();
                let mut hit = None;
                while d < mm.model_now().date() {
                    if mm
                        .day_events(d)
                        .iter()
                        .any(|e| matches!(e, crate::meter::SimEvent::PowerFail { .. }))
                    {
                        hit = Some(d);
                        break;
                    }
                    d += Duration::days(1);
                }
                hit
            };
            found.map(|d| (m, d))
        })
        .expect("a power cut in 40 meters");
    let mut c = public(&m, 1200);
    let period = Duration::minutes(15);
    let from = day.and_hms_opt(0, 0, 0).unwrap() + period;
    let to = from + Duration::days(1) - period;
    let (rows, blocks) = c.get_with(profile(2), Some(range(from, to, None)));
    assert!(blocks > 1, "a day of profile needs blocks");
    let rows = rows.unwrap();
    let rows = rows.as_elements().unwrap();

    let (recs, _) = {
        let mm = lock(&m.meter);
        mm.day(day, mm.model_now())
    };
    let lp = to_load_profile(&recs, MeterModel::A1140, 0).unwrap();
    assert_eq!(rows.len(), lp.intervals.len());
    assert!(rows.len() < 96, "no records while the meter is dead");
    let mut power_flagged = 0;
    for (row, iv) in rows.iter().zip(&lp.intervals) {
        let f = row.as_elements().unwrap();
        assert_eq!(f.len(), 6);
        let t = f[0].to_date_time().unwrap();
        assert_eq!(
            t.to_naive_local().unwrap(),
            iv.start.naive_utc() + Duration::seconds(i64::from(iv.seconds))
        );
        assert_eq!(t.deviation(), Some(0));
        assert_eq!(f[1], Data::Unsigned(profile_status(iv.status)));
        if profile_status(iv.status) & 0x80 != 0 {
            power_flagged += 1;
        }
        let values: Vec<i64> = f[2..].iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(values, iv.values);
    }
    assert!(power_flagged > 0, "the power cut shows in the status");
    // The same range with a deviation of another zone: an hour later at UTC+1 is the same.
    let (rows2, _) = c.get_with(
        profile(2),
        Some(range(
            from + Duration::hours(1),
            to + Duration::hours(1),
            Some(-60),
        )),
    );
    assert_eq!(rows2.unwrap().as_elements().unwrap().len(), rows.len());
    // Capture objects and period.
    let cols = c.get(profile(3)).unwrap();
    let cols = cols.as_elements().unwrap();
    assert_eq!(cols.len(), 6);
    assert_eq!(cols[0], CaptureObjectDefinition::CLOCK_TIME.to_data());
    assert_eq!(
        cols[2],
        CaptureObjectDefinition::new(3, ObisCode::elec(1, 5, 0), 2).to_data()
    );
    assert_eq!(c.get(profile(4)).unwrap(), Data::DoubleLongUnsigned(900));
    assert_eq!(
        c.get(register(1, 5, 0, 3)).unwrap(),
        Data::Structure(vec![Data::Integer(-3), Data::Enum(27)])
    );
    // Selected columns: clock and import only.
    let sel = RangeDescriptor {
        restricting_object: CaptureObjectDefinition::CLOCK_TIME,
        from_value: Data::date_time_octets(
            CosemDateTime::from_naive_local(from, None, ClockStatus::NOT_SPECIFIED).unwrap(),
        ),
        to_value: Data::date_time_octets(
            CosemDateTime::from_naive_local(
                from + Duration::hours(2),
                None,
                ClockStatus::NOT_SPECIFIED,
            )
            .unwrap(),
        ),
        selected_values: vec![
            CaptureObjectDefinition::CLOCK_TIME,
            CaptureObjectDefinition::new(3, ObisCode::elec(1, 5, 0), 2),
        ],
    };
    let (few, _) = c.get_with(profile(2), Some(sel.clone().into()));
    let few = few.unwrap();
    for row in few.as_elements().unwrap() {
        assert_eq!(row.as_elements().unwrap().len(), 2);
    }
    // Named in the other order, the columns still come in the buffer's order.
    let mut reversed = sel;
    reversed.selected_values.reverse();
    let (same, _) = c.get_with(profile(2), Some(reversed.into()));
    assert_eq!(same.unwrap(), few);
    let first = &few.as_elements().unwrap()[0];
    assert!(
        matches!(&first.as_elements().unwrap()[0], Data::OctetString(b) if b.len() == 12),
        "the clock first: {first:?}"
    );
    // A range restricted on another column is refused.
    let bad = RangeDescriptor {
        restricting_object: CaptureObjectDefinition::new(3, ObisCode::elec(1, 5, 0), 2),
        from_value: Data::DoubleLongUnsigned(0),
        to_value: Data::DoubleLongUnsigned(1),
        selected_values: Vec::new(),
    };
    assert_eq!(
        c.get_with(profile(2), Some(bad.into())).0,
        Err(Dar::OtherReason)
    );
    // A malformed descriptor.
    let junk = SelectiveAccess {
        selector: 1,
        parameters: Data::Unsigned(3),
    };
    assert_eq!(
        c.get_with(profile(2), Some(junk)).0,
        Err(Dar::TypeUnmatched)
    );
}

#[test]
fn load_profile_by_entry() {
    let m = sim(3);
    let mut c = public(&m, 0xFFFF);
    let n = c.get(profile(7)).unwrap().as_u64().unwrap() as u32;
    assert!(n > 35 * 96 - 200, "{n} entries");
    let e = EntryDescriptor {
        from_entry: 2,
        to_entry: 4,
        from_selected_value: 1,
        to_selected_value: 3,
    };
    let rows = c.get_with(profile(2), Some(e.into())).0.unwrap();
    let rows = rows.as_elements().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].as_elements().unwrap().len(), 3);
    let all = objects::load_rows(&lock(&m.meter), None);
    assert_eq!(all.len() as u32, n);
    assert_eq!(rows[0].as_elements().unwrap()[..], all[1].1[..3]);
    // The last entry, all columns.
    let last = EntryDescriptor {
        from_entry: n,
        to_entry: 0,
        from_selected_value: 1,
        to_selected_value: 0,
    };
    let rows = c.get_with(profile(2), Some(last.into())).0.unwrap();
    assert_eq!(rows.as_elements().unwrap().len(), 1);
    // Beyond the end: nothing; a bad column range: refused.
    let beyond = EntryDescriptor::entries(n + 5, 2);
    let rows = c.get_with(profile(2), Some(beyond.into())).0.unwrap();
    assert_eq!(rows, Data::Array(Vec::new()));
    let cols = EntryDescriptor {
        from_entry: 1,
        to_entry: 1,
        from_selected_value: 9,
        to_selected_value: 0,
    };
    assert_eq!(
        c.get_with(profile(2), Some(cols.into())).0,
        Err(Dar::OtherReason)
    );
}

#[test]
fn event_log_and_calendar() {
    let m = sim(2);
    let (mut r, _) = reader(&m, LLS_PASSWORD);
    let rows = r
        .get(AttributeDescriptor::new(7, objects::EVENT_LOG, 2))
        .unwrap();
    let rows = rows.as_elements().unwrap();
    let expected = objects::event_rows(&lock(&m.meter));
    assert_eq!(rows.len(), expected.len());
    assert!(
        expected
            .iter()
            .any(|e| e.1 == objects::event_code::BILLING_RESET),
        "the 1 March billing reset"
    );
    for (row, (t, code)) in rows.iter().zip(&expected) {
        let f = row.as_elements().unwrap();
        assert_eq!(f[0].to_date_time().unwrap().to_naive_local().unwrap(), *t);
        assert_eq!(f[1], Data::Unsigned(*code));
    }
    // The factory calendar: Economy 7.
    let cal = |r: &mut Client, a| {
        r.get(AttributeDescriptor::new(20, objects::ACTIVITY_CALENDAR, a))
            .unwrap()
    };
    assert_eq!(cal(&mut r, 2), Data::OctetString(b"E7-2R-01".to_vec()));
    let days = cal(&mut r, 5);
    let actions = days.as_elements().unwrap()[0].as_elements().unwrap()[1].clone();
    let times: Vec<(Data, Data)> = actions
        .as_elements()
        .unwrap()
        .iter()
        .map(|a| {
            let f = a.as_elements().unwrap();
            (f[0].clone(), f[2].clone())
        })
        .collect();
    assert_eq!(
        times,
        vec![
            (Data::OctetString(vec![0, 0, 0, 0]), Data::LongUnsigned(1)),
            (Data::OctetString(vec![0, 30, 0, 0]), Data::LongUnsigned(2)),
            (Data::OctetString(vec![7, 30, 0, 0]), Data::LongUnsigned(1)),
        ]
    );
    // 14:00: the day rate.
    assert_eq!(
        r.get(AttributeDescriptor::new(6, objects::REGISTER_ACTIVATION, 4))
            .unwrap(),
        Data::OctetString(b"R1".to_vec())
    );
    assert_eq!(
        r.get(AttributeDescriptor::new(1, objects::ACTIVE_TARIFF, 2))
            .unwrap(),
        Data::Unsigned(1)
    );
    assert_eq!(
        r.get(AttributeDescriptor::new(11, objects::SPECIAL_DAYS, 2))
            .unwrap(),
        Data::Array(Vec::new())
    );
    // The passive calendar is empty until programming writes it.
    assert_eq!(cal(&mut r, 7), Data::Array(Vec::new()));
    let scripts = r
        .get(AttributeDescriptor::new(9, objects::SCRIPT_TABLE, 2))
        .unwrap();
    assert_eq!(scripts.as_elements().unwrap().len(), 2);
}

#[test]
fn calendar_of_a_committed_program() {
    use metermaster_flag::program::{Family, Program, RateDef, SeasonDef, SpecialDef, SwitchDef};
    let m = sim(4);
    let program = Program {
        family: Family::A1140,
        label: "TOU3@2".into(),
        std_offset_min: 60,
        activation: None,
        rates: vec![
            RateDef {
                register: 1,
                source: 0,
            },
            RateDef {
                register: 2,
                source: 0,
            },
            RateDef {
                register: 3,
                source: 1,
            },
        ],
        day_profiles: vec![
            vec![
                SwitchDef { minute: 0, rate: 1 },
                SwitchDef {
                    minute: 7 * 60,
                    rate: 0,
                },
                SwitchDef {
                    minute: 23 * 60,
                    rate: 1,
                },
            ],
            vec![SwitchDef {
                minute: 8 * 60,
                rate: 1,
            }],
        ],
        seasons: vec![
            SeasonDef {
                month: 1,
                day: 1,
                week: [0, 0, 0, 0, 0, 1, 1],
            },
            SeasonDef {
                month: 4,
                day: 1,
                week: [0, 0, 0, 0, 0, 1, 1],
            },
        ],
        special_days: vec![SpecialDef {
            year: 0,
            month: 12,
            day: 25,
            profile: 1,
        }],
        dst: Vec::new(),
        demand: None,
        billing: None,
    };
    let image = program.encode();
    lock(&m.meter).commit_program(program, image, 1);
    let (mut r, _) = reader(&m, LLS_PASSWORD);
    let get =
        |r: &mut Client, class, obis, a| r.get(AttributeDescriptor::new(class, obis, a)).unwrap();
    assert_eq!(
        get(&mut r, 20, objects::ACTIVITY_CALENDAR, 2),
        Data::OctetString(b"TOU3@2".to_vec())
    );
    let seasons = get(&mut r, 20, objects::ACTIVITY_CALENDAR, 3);
    let s = seasons.as_elements().unwrap();
    assert_eq!(s.len(), 2);
    let s2 = s[1].as_elements().unwrap();
    assert_eq!(s2[0], Data::OctetString(b"S2".to_vec()));
    let start = s2[1].to_date_time().unwrap();
    assert_eq!(
        (start.date.year, start.date.month, start.date.day),
        (0xFFFF, 4, 1)
    );
    assert_eq!(
        s2[2],
        Data::OctetString(b"W1".to_vec()),
        "both seasons share a week"
    );
    let weeks = get(&mut r, 20, objects::ACTIVITY_CALENDAR, 4);
    assert_eq!(
        weeks,
        Data::Array(vec![Data::Structure(vec![
            Data::OctetString(b"W1".to_vec()),
            Data::Unsigned(1),
            Data::Unsigned(1),
            Data::Unsigned(1),
            Data::Unsigned(1),
            Data::Unsigned(1),
            Data::Unsigned(2),
            Data::Unsigned(2),
        ])])
    );
    let days = get(&mut r, 20, objects::ACTIVITY_CALENDAR, 5);
    let d2 = days.as_elements().unwrap()[1].as_elements().unwrap();
    // The weekend profile starts at 08:00: rate 0 (register 1) until then.
    let acts: Vec<Data> = d2[1]
        .as_elements()
        .unwrap()
        .iter()
        .map(|a| a.as_elements().unwrap()[2].clone())
        .collect();
    assert_eq!(acts, vec![Data::LongUnsigned(1), Data::LongUnsigned(2)]);
    let special = get(&mut r, 11, objects::SPECIAL_DAYS, 2);
    assert_eq!(
        special,
        Data::Array(vec![Data::Structure(vec![
            Data::LongUnsigned(0),
            Data::OctetString(vec![0xFF, 0xFF, 12, 25, 0xFF]),
            Data::Unsigned(2),
        ])])
    );
    // The clock now shows the program's standard time deviation (UTC+1 → −60).
    assert_eq!(get(&mut r, 8, objects::CLOCK, 3), Data::Long(-60));
    let t = get(&mut r, 8, objects::CLOCK, 2).to_date_time().unwrap();
    assert_eq!(t.deviation(), Some(-60));
    // The TOU registers follow the program: import rates 1 and 2, export rate 1.
    assert!(r.get(register(1, 8, 1, 2)).is_ok());
    assert!(r.get(register(2, 8, 1, 2)).is_ok());
    assert_eq!(r.get(register(1, 8, 3, 2)), Err(Dar::ObjectUndefined));
    // Label in the programming log.
    let label = get(&mut r, 1, objects::PROGRAMMING_LABEL, 2);
    assert_eq!(label, Data::visible_string("TOU3@2"));
}

#[test]
fn disconnect_control_needs_the_management_client() {
    let m = sim(1);
    let state = |c: &mut Client| {
        c.get(AttributeDescriptor::new(70, objects::DISCONNECT_CONTROL, 2))
            .unwrap()
    };
    let (mut r, _) = reader(&m, LLS_PASSWORD);
    assert_eq!(state(&mut r), Data::Boolean(true));
    let off = MethodDescriptor::new(70, objects::DISCONNECT_CONTROL, 1);
    assert_eq!(
        r.action(off, Some(Data::Integer(0))).0,
        Dar::ReadWriteDenied
    );
    let (mut g, res) = management(&m, &right_keys());
    assert_eq!(res, Dar::Success);
    assert_eq!(g.action(off, Some(Data::Integer(0))).0, Dar::Success);
    // The state is the meter's, seen by every association.
    assert_eq!(state(&mut r), Data::Boolean(false));
    assert_eq!(
        r.get(AttributeDescriptor::new(70, objects::DISCONNECT_CONTROL, 3))
            .unwrap(),
        Data::Enum(0)
    );
    let on = MethodDescriptor::new(70, objects::DISCONNECT_CONTROL, 2);
    assert_eq!(g.action(on, Some(Data::Integer(0))).0, Dar::Success);
    assert_eq!(state(&mut r), Data::Boolean(true));
}

/// A block transfer left half done (the connection dropped) leaves nothing behind: the next
/// association reads normally, and a Get-Next without a transfer is refused.
#[test]
fn dropped_block_transfer_leaves_the_meter_usable() {
    let m = sim(1);
    let mut c = public(&m, 256);
    let resp = c.send(&Apdu::GetRequest(GetRequest::normal(
        INVOKE,
        AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2),
    )));
    assert!(matches!(
        resp,
        Apdu::GetResponse(GetResponse::WithDatablock { .. })
    ));
    assert!(c.assoc.block_transfer_in_progress());
    drop(c);
    let mut c = public(&m, 256);
    let resp = c.send(&Apdu::GetRequest(GetRequest::Next {
        invoke: INVOKE,
        block_number: 1,
    }));
    assert!(matches!(
        resp,
        Apdu::GetResponse(GetResponse::WithDatablock { block, .. })
            if block.result == DataBlockResult::Error(Dar::NoLongGetInProgress)
    ));
    assert!(
        c.get(AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2))
            .is_ok()
    );
    // A wrong block number aborts the transfer.
    c.send(&Apdu::GetRequest(GetRequest::normal(
        INVOKE,
        AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2),
    )));
    let resp = c.send(&Apdu::GetRequest(GetRequest::Next {
        invoke: INVOKE,
        block_number: 7,
    }));
    assert!(matches!(
        resp,
        Apdu::GetResponse(GetResponse::WithDatablock { block, .. })
            if block.result == DataBlockResult::Error(Dar::DataBlockNumberInvalid)
    ));
    assert!(!c.assoc.block_transfer_in_progress());
}

/// Random bytes and damaged valid APDUs never panic and always get an answer.
#[test]
fn malformed_apdus_never_panic() {
    let m = sim(1);
    let mut valid: Vec<Vec<u8>> = vec![
        Aarq::new(
            ApplicationContext::LN,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .encode(),
        GetRequest::normal(INVOKE, clock_attr(2)).encode(),
        Apdu::GetRequest(GetRequest::Normal {
            invoke: INVOKE,
            attribute: profile(2),
            access: Some(EntryDescriptor::entries(1, 3).into()),
        })
        .encode(),
        SetRequest::normal(INVOKE, clock_attr(2), Data::Unsigned(0)).encode(),
        ActionRequest::normal(
            INVOKE,
            MethodDescriptor::new(8, objects::CLOCK, 6),
            Some(Data::Long(1)),
        )
        .encode(),
        Rlrq::normal().encode(),
    ];
    valid.push(
        Aarq::new(
            ApplicationContext::LN_CIPHERED,
            UserInformation::InitiateRequest(initiate(1200)),
        )
        .with_authentication(MechanismName::HIGH_GMAC, vec![1; 8])
        .encode(),
    );
    for sap in [PUBLIC_CLIENT, READER_CLIENT, MANAGEMENT_CLIENT, 5] {
        let mut c = Client::new(&m, sap);
        let mut x = sap as u64;
        for round in 0..3000u64 {
            x = mix(x ^ round);
            let base = &valid[(x % valid.len() as u64) as usize];
            let mut b = base.clone();
            match (x >> 8) % 4 {
                0 => b.truncate((x >> 16) as usize % (b.len() + 1)),
                1 => {
                    let i = (x >> 16) as usize % b.len();
                    b[i] ^= 1 << ((x >> 24) % 8);
                }
                2 => b = (0..(x >> 16) % 40).map(|k| mix(x + k) as u8).collect(),
                _ => {}
            }
            if let Some(reply) = c.raw(&b) {
                assert!(!reply.is_empty());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HDLC

const PHYS: u16 = 17; // 16 + 10000001 mod 100

fn client_addr() -> HdlcAddress {
    HdlcAddress::client(16).unwrap()
}

fn server_addr(size: AddressSize, phys: Option<u16>) -> HdlcAddress {
    HdlcAddress::server_with_size(1, phys, size).unwrap()
}

fn frame(dest: HdlcAddress, control: Control, info: Vec<u8>) -> Vec<u8> {
    HdlcFrame::new(dest, client_addr(), control)
        .with_information(info)
        .encode()
        .unwrap()
}

fn frames_of(out: &[LinkOutput]) -> Vec<HdlcFrame> {
    let mut s = FrameSplitter::new();
    for o in out {
        if let LinkOutput::Send(b) = o {
            s.push(b);
        }
    }
    let mut v = Vec::new();
    while let Some(f) = s.next_frame() {
        v.push(f.unwrap());
    }
    v
}

fn apdus_of(out: &[LinkOutput]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            LinkOutput::Apdu { apdu, .. } => Some(apdu.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn hdlc_link_negotiates_segments_and_drops_bad_frames() {
    let dest = server_addr(AddressSize::Two, Some(PHYS));
    let mut link = HdlcServerLink::new(PHYS, 1001);
    // I-frame before SNRM: DM.
    let out = link.receive(&frame(
        dest,
        Control::I {
            send_seq: 0,
            recv_seq: 0,
            poll_final: true,
        },
        vec![0xE6, 0xE6, 0, 0xC0],
    ));
    assert!(matches!(frames_of(&out)[0].control, Control::Dm { .. }));
    // SNRM proposing 128 bytes and window 3: UA with 128 and windows of 3 both ways.
    let proposal = HdlcParameters {
        max_info_transmit: 128,
        max_info_receive: 128,
        window_transmit: 3,
        window_receive: 3,
    };
    let out = link.receive(&frame(
        dest,
        Control::Snrm { poll_final: true },
        proposal.encode(),
    ));
    let ua = &frames_of(&out)[0];
    assert!(matches!(ua.control, Control::Ua { .. }));
    assert_eq!(ua.destination, client_addr());
    assert_eq!(ua.source, dest, "answers with the address it was called by");
    let p = HdlcParameters::decode(&ua.information).unwrap();
    assert_eq!(
        (p.max_info_transmit, p.window_transmit, p.window_receive),
        (128, 3, 3)
    );
    assert!(out.contains(&LinkOutput::Reset));

    // A 300-byte APDU from the client in three segments; a bad FCS on the second is dropped
    // and the repeat is taken.
    let apdu: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let segs = information_frames(
        dest,
        client_addr(),
        &apdu,
        Direction::ClientToServer,
        128,
        0,
        0,
    )
    .unwrap();
    assert_eq!(segs.len(), 3);
    let out = link.receive(&segs[0].encode().unwrap());
    let rr = &frames_of(&out)[0];
    assert!(matches!(rr.control, Control::Rr { recv_seq: 1, .. }));
    // The RR was lost and the client repeats the segment: the same RR again.
    let again = link.receive(&segs[0].encode().unwrap());
    assert!(matches!(
        frames_of(&again)[0].control,
        Control::Rr { recv_seq: 1, .. }
    ));
    let mut broken = segs[1].encode().unwrap();
    let n = broken.len();
    broken[n - 2] ^= 0xFF;
    assert!(link.receive(&broken).is_empty(), "bad FCS: silence");
    assert_eq!(link.bad_frames(), 1);
    let out = link.receive(&segs[1].encode().unwrap());
    assert!(matches!(
        frames_of(&out)[0].control,
        Control::Rr { recv_seq: 2, .. }
    ));
    let out = link.receive(&segs[2].encode().unwrap());
    assert_eq!(apdus_of(&out), vec![apdu.clone()]);

    // A 400-byte answer goes out in four segments of 128: a window of three (the poll/final
    // bit on the third only), then, after the RR, the fourth. An RR whose N(R) points into the
    // window brings the frames from there again.
    let answer: Vec<u8> = (0..400u32).map(|i| (i * 7) as u8).collect();
    let rr = |n: u8| {
        frame(
            dest,
            Control::Rr {
                recv_seq: n,
                poll_final: true,
            },
            Vec::new(),
        )
    };
    let first = frames_of(&link.send_apdu(&answer));
    let seqs = |fs: &[HdlcFrame]| -> Vec<(u8, bool)> {
        fs.iter()
            .map(|f| match f.control {
                Control::I {
                    send_seq,
                    poll_final,
                    recv_seq: 3,
                } => (send_seq, poll_final),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(seqs(&first), vec![(0, false), (1, false), (2, true)]);
    assert!(first.iter().all(|f| f.information.len() <= 128));
    let again = frames_of(&link.receive(&rr(1)));
    assert_eq!(seqs(&again), vec![(1, false), (2, true)]);
    assert_eq!(again[0].information, first[1].information);
    let last = frames_of(&link.receive(&rr(3)));
    assert_eq!(seqs(&last), vec![(3, true)]);
    let mut re = Reassembler::new(Direction::ServerToClient, 4096);
    let mut got = None;
    for f in first.iter().chain(&last) {
        got = re.push_frame(f).unwrap();
    }
    assert_eq!(got, Some(answer));
    // The client missed the last frame: an RR with its N(R) brings it again.
    assert_eq!(seqs(&frames_of(&link.receive(&rr(3)))), vec![(3, true)]);

    // An out-of-sequence I-frame (one of the client's window lost): inside a window nothing,
    // at its end (poll bit) RR with the frame the meter still waits for. With window 1: FRMR.
    let wrong = |poll_final: bool| {
        frame(
            dest,
            Control::I {
                send_seq: 6,
                recv_seq: 4,
                poll_final,
            },
            vec![0xE6, 0xE6, 0x00, 0xC0],
        )
    };
    assert!(link.receive(&wrong(false)).is_empty());
    assert!(matches!(
        frames_of(&link.receive(&wrong(true)))[0].control,
        Control::Rr { recv_seq: 3, .. }
    ));
    let one = HdlcParameters {
        window_transmit: 1,
        window_receive: 1,
        ..proposal
    };
    link.receive(&frame(
        dest,
        Control::Snrm { poll_final: true },
        one.encode(),
    ));
    let wrong_now = frame(
        dest,
        Control::I {
            send_seq: 2,
            recv_seq: 0,
            poll_final: true,
        },
        vec![0xE6, 0xE6, 0x00, 0xC0],
    );
    assert!(matches!(
        frames_of(&link.receive(&wrong_now))[0].control,
        Control::Frmr { .. }
    ));
    // Other addresses: silence; the other forms of ours: answered.
    let other = server_addr(AddressSize::Two, Some(18));
    assert!(
        link.receive(&frame(
            other,
            Control::Rr {
                recv_seq: 0,
                poll_final: true
            },
            Vec::new()
        ))
        .is_empty()
    );
    for a in [
        server_addr(AddressSize::One, None),
        server_addr(AddressSize::Four, Some(PHYS)),
        server_addr(AddressSize::Four, Some(1001)),
    ] {
        assert!(link.addressed_to_me(&a), "{a:?}");
    }
    assert!(!link.addressed_to_me(&server_addr(AddressSize::Four, Some(1002))));
    // DISC: UA, then DM.
    let out = link.receive(&frame(dest, Control::Disc { poll_final: true }, Vec::new()));
    assert!(matches!(frames_of(&out)[0].control, Control::Ua { .. }));
    let out = link.receive(&frame(dest, Control::Disc { poll_final: true }, Vec::new()));
    assert!(matches!(frames_of(&out)[0].control, Control::Dm { .. }));
}

#[test]
fn hdlc_garbage_never_panics() {
    let mut link = HdlcServerLink::new(PHYS, 1001);
    let dest = server_addr(AddressSize::Two, Some(PHYS));
    let snrm = frame(dest, Control::Snrm { poll_final: true }, Vec::new());
    let mut x = 7u64;
    for round in 0..5000u64 {
        x = mix(x ^ round);
        let mut b = if round % 3 == 0 {
            snrm.clone()
        } else {
            frame(
                dest,
                Control::from_byte((x >> 8) as u8).unwrap_or(Control::Rr {
                    recv_seq: 0,
                    poll_final: true,
                }),
                (0..(x >> 16) % 300).map(|k| mix(x ^ k) as u8).collect(),
            )
        };
        if round % 5 == 1 {
            let i = (x >> 32) as usize % b.len();
            b[i] ^= 0x5A;
        }
        let _ = link.receive(&b);
        let _ = link.send_apdu(&b);
    }
}

// ---------------------------------------------------------------------------------------------
// Over a byte stream, as served

async fn wrapper_exchange(
    s: &mut tokio::io::DuplexStream,
    sap: u16,
    apdu: &[u8],
) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&WrapperFrame::new(sap, 1, apdu.to_vec()).encode().unwrap())
        .await
        .ok()?;
    let mut sp = WrapperSplitter::default();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = sp.next_frame() {
            let f = f.ok()?;
            assert_eq!((f.source, f.destination), (1, sap));
            return Some(f.apdu);
        }
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        sp.push(&buf[..n]);
    }
}

#[tokio::test]
async fn connection_dropped_mid_block_transfer_then_a_new_one_works() {
    let m = sim(1);
    let opts = DlmsServeOptions::default();
    let aarq = Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(256)),
    )
    .encode();
    let get_list = GetRequest::normal(
        INVOKE,
        AttributeDescriptor::new(15, objects::ASSOCIATION_LN, 2),
    )
    .encode();
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_dlms_connection(b, m.clone(), opts.clone()));
    let aare = wrapper_exchange(&mut a, 16, &aarq).await.unwrap();
    assert!(matches!(Apdu::decode(&aare).unwrap(), Apdu::Aare(x) if x.is_associated()));
    let first = wrapper_exchange(&mut a, 16, &get_list).await.unwrap();
    assert!(matches!(
        Apdu::decode(&first).unwrap(),
        Apdu::GetResponse(GetResponse::WithDatablock { .. })
    ));
    drop(a);
    server.await.unwrap().unwrap();

    let (mut a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_dlms_connection(b, m.clone(), opts));
    // Without an association: an exception, not a block.
    let e = wrapper_exchange(
        &mut a,
        16,
        &GetRequest::Next {
            invoke: INVOKE,
            block_number: 1,
        }
        .encode(),
    )
    .await
    .unwrap();
    assert!(matches!(
        Apdu::decode(&e).unwrap(),
        Apdu::ExceptionResponse(_)
    ));
    wrapper_exchange(&mut a, 16, &aarq).await.unwrap();
    let mut raw = Vec::new();
    let mut resp = wrapper_exchange(&mut a, 16, &get_list).await.unwrap();
    loop {
        match Apdu::decode(&resp).unwrap() {
            Apdu::GetResponse(GetResponse::WithDatablock { block, .. }) => {
                let DataBlockResult::RawData(d) = block.result else {
                    panic!()
                };
                raw.extend(d);
                if block.last_block {
                    break;
                }
                let next = GetRequest::Next {
                    invoke: INVOKE,
                    block_number: block.block_number,
                }
                .encode();
                resp = wrapper_exchange(&mut a, 16, &next).await.unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(Data::decode(&raw).unwrap().as_elements().unwrap().len() > 30);
    // Another logical device: no answer; a broken wrapper version closes the connection.
    use tokio::io::AsyncWriteExt;
    a.write_all(&[0x00, 0x02, 0, 16, 0, 1, 0, 1, 0xC0])
        .await
        .unwrap();
    server.await.unwrap().unwrap();
}

async fn next(a: &mut tokio::io::DuplexStream, sp: &mut FrameSplitter) -> HdlcFrame {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = sp.next_frame() {
            return f.unwrap();
        }
        let n = a.read(&mut buf).await.unwrap();
        assert!(n > 0);
        sp.push(&buf[..n]);
    }
}

#[tokio::test]
async fn hdlc_over_a_stream() {
    use tokio::io::AsyncWriteExt;
    let m = sim(1);
    let opts = DlmsServeOptions {
        transport: Transport::Hdlc,
        ..DlmsServeOptions::default()
    };
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_dlms_connection(b, m, opts));
    let dest = server_addr(AddressSize::Four, Some(1001));
    let mut splitter = FrameSplitter::new();
    a.write_all(&frame(dest, Control::Snrm { poll_final: true }, Vec::new()))
        .await
        .unwrap();
    let ua = next(&mut a, &mut splitter).await;
    assert!(matches!(ua.control, Control::Ua { .. }));
    let aarq = Aarq::new(
        ApplicationContext::LN,
        UserInformation::InitiateRequest(initiate(1200)),
    )
    .encode();
    for f in information_frames(
        dest,
        client_addr(),
        &aarq,
        Direction::ClientToServer,
        128,
        0,
        0,
    )
    .unwrap()
    {
        a.write_all(&f.encode().unwrap()).await.unwrap();
    }
    let f = next(&mut a, &mut splitter).await;
    let mut re = Reassembler::new(Direction::ServerToClient, 4096);
    let aare = re.push_frame(&f).unwrap().unwrap();
    assert!(matches!(Apdu::decode(&aare).unwrap(), Apdu::Aare(x) if x.is_associated()));
    a.write_all(&frame(dest, Control::Disc { poll_final: true }, Vec::new()))
        .await
        .unwrap();
    let ua = next(&mut a, &mut splitter).await;
    assert!(matches!(ua.control, Control::Ua { .. }));
    drop(a);
    server.await.unwrap().unwrap();
}

#[test]
fn system_titles_and_addresses() {
    assert_eq!(
        server_system_title("10000001").0,
        [b'G', b'E', b'C', 0x00, 0x00, 0x98, 0x96, 0x81]
    );
    assert_eq!(physical_address("10000001"), 17);
    assert_eq!(physical_address("10000099"), 115);
    assert_eq!(serial_physical_address("10000001"), 1001);
    assert_ne!(server_system_title("ABC"), server_system_title("ABD"));
}

// ---------------------------------------------------------------------------------------------
// The client's typed object model (metermaster_dlms::cosem) against the meter

/// Reads one listed object as class `T` and checks it against its object list entry: the
/// logical name, the class version, and every attribute the list lets this client read is
/// there (the others are `None`).
async fn read_listed<T, S>(
    c: &mut metermaster_dlms::client::DlmsClient<S>,
    entry: &metermaster_dlms::cosem::ObjectListEntry,
) -> T
where
    T: metermaster_dlms::cosem::CosemClass,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let ln = entry.logical_name;
    let o: T = c
        .read_object(ln)
        .await
        .unwrap_or_else(|e| panic!("{} {ln}: {e}", T::NAME));
    assert_eq!(o.logical_name(), ln);
    assert!(entry.version <= T::VERSION, "{} {ln} version", T::NAME);
    for a in T::read_attributes() {
        let readable = entry.attribute_access(a).is_some_and(|m| m.can_read(1));
        assert_eq!(
            o.encode_attribute(a).is_some(),
            readable,
            "{} {ln} attribute {a}",
            T::NAME
        );
    }
    o
}

/// The typed client as the management client (HLS-GMAC, global ciphering) over the wrapper on
/// an in-memory pipe, and the serving task.
async fn typed_management(
    m: &DlmsMeter,
) -> (
    metermaster_dlms::client::DlmsClient<tokio::io::DuplexStream>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    use metermaster_dlms::client::{
        Authentication, Ciphering, DlmsClient, LinkOptions, SecuritySettings, SessionOptions,
        Transport as LinkTransport,
    };
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_dlms_connection(
        b,
        m.clone(),
        DlmsServeOptions::default(),
    ));
    let mut security = SecuritySettings::new(right_keys(), CLIENT_TITLE, 1);
    security.ciphering = Ciphering::Global;
    let opts = SessionOptions {
        link: LinkOptions {
            transport: LinkTransport::Wrapper,
            client_sap: MANAGEMENT_CLIENT as u8,
            server_logical: SERVER_SAP,
            ..LinkOptions::default()
        },
        authentication: Authentication::HighGmac,
        security: Some(security),
        ..SessionOptions::default()
    };
    let mut c = DlmsClient::connect(a, opts).await.unwrap();
    c.associate().await.unwrap();
    (c, server)
}

#[tokio::test]
async fn every_listed_object_reads_through_the_typed_object_model() {
    use metermaster_dlms::apdu::EntryDescriptor;
    use metermaster_dlms::cosem::{
        self, ControlState, MessageType, SapAssignmentEntry, TransportService,
    };
    use metermaster_dlms::obis::{DlmsUnit, ScalerUnit};

    let m = sim(1);
    let (meter_now, name, cal, import_wh) = {
        let mut meter = lock(&m.meter);
        let now = meter.model_now();
        let import = meter.totals_at(now).energy[0];
        (
            meter.now(),
            objects::device_name(&meter),
            objects::calendar(&meter),
            import,
        )
    };
    let (mut c, server) = typed_management(&m).await;

    // Every object of the list, through the type of its class.
    let list = c.read_object_list().await.unwrap();
    assert_eq!(list.len(), objects::object_list(&lock(&m.meter)).len());
    let mut untyped = Vec::new();
    let mut classes = std::collections::BTreeSet::new();
    for e in &list {
        classes.insert(e.class_id);
        match e.class_id {
            1 => {
                read_listed::<cosem::DataObject, _>(&mut c, e).await;
            }
            3 => {
                read_listed::<cosem::Register, _>(&mut c, e).await;
            }
            4 => {
                read_listed::<cosem::ExtendedRegister, _>(&mut c, e).await;
            }
            5 => {
                read_listed::<cosem::DemandRegister, _>(&mut c, e).await;
            }
            6 => {
                read_listed::<cosem::RegisterActivation, _>(&mut c, e).await;
            }
            7 => {
                read_listed::<cosem::ProfileGeneric, _>(&mut c, e).await;
            }
            8 => {
                read_listed::<cosem::Clock, _>(&mut c, e).await;
            }
            9 => {
                read_listed::<cosem::ScriptTable, _>(&mut c, e).await;
            }
            11 => {
                read_listed::<cosem::SpecialDaysTable, _>(&mut c, e).await;
            }
            15 => {
                read_listed::<cosem::AssociationLn, _>(&mut c, e).await;
            }
            17 => {
                read_listed::<cosem::SapAssignment, _>(&mut c, e).await;
            }
            20 => {
                read_listed::<cosem::ActivityCalendar, _>(&mut c, e).await;
            }
            40 => {
                read_listed::<cosem::PushSetup, _>(&mut c, e).await;
            }
            70 => {
                read_listed::<cosem::DisconnectControl, _>(&mut c, e).await;
            }
            other => untyped.push(other),
        }
    }
    assert_eq!(untyped, [64], "only the security setup has no type");
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        [1, 3, 4, 5, 6, 7, 8, 9, 11, 15, 17, 20, 40, 64, 70]
    );

    // The clock is the meter's (the simulation's time stands still).
    let clock: cosem::Clock = c.read_object(objects::CLOCK).await.unwrap();
    assert_eq!(clock.time.unwrap().to_naive_local().unwrap(), meter_now);
    assert_eq!(clock.time_zone, Some(objects::deviation(&lock(&m.meter))));
    // shift_time moves it.
    c.clock_shift_time(objects::CLOCK, 10).await.unwrap();
    let clock: cosem::Clock = c
        .read_object_attributes(objects::CLOCK, &[cosem::Clock::TIME])
        .await
        .unwrap();
    assert_eq!(
        clock.time.unwrap().to_naive_local().unwrap(),
        meter_now + Duration::seconds(10)
    );
    assert_eq!(clock.status, None, "not asked for");

    // +A: its value in Wh × 10^-3 and its scaler_unit.
    let import: cosem::Register = c.read_object(ObisCode::elec(1, 8, 0)).await.unwrap();
    assert_eq!(
        import.scaler_unit,
        Some(ScalerUnit::new(-3, DlmsUnit::WATT_HOUR))
    );
    assert_eq!(
        import.value.as_ref().and_then(Data::as_u64),
        Some(import_wh)
    );

    // The calendar in force: the factory Economy 7 one, named after the scheme.
    let calendar: cosem::ActivityCalendar =
        c.read_object(objects::ACTIVITY_CALENDAR).await.unwrap();
    assert_eq!(
        calendar.calendar_name_active.as_ref().map(|n| n.to_vec()),
        Some(cal.name.as_bytes().to_vec())
    );
    let seasons = calendar.season_profile_active.clone().unwrap();
    assert_eq!(seasons.len(), cal.seasons.len());
    assert_eq!(seasons[0].name.as_text(), Some(cal.seasons[0].0.as_str()));
    assert_eq!(
        seasons[0].week_name.as_text(),
        Some(cal.seasons[0].3.as_str())
    );
    let days = calendar.day_profile_table_active.clone().unwrap();
    let switches: Vec<(u8, u8, u16)> = days[0]
        .actions
        .iter()
        .map(|a| (a.start_time.hour, a.start_time.minute, a.script_selector))
        .collect();
    assert_eq!(switches, cal.days[0].1);
    calendar.check_references(false).unwrap();

    // The breaker: connected, then disconnected and reconnected by the methods.
    let breaker: cosem::DisconnectControl =
        c.read_object(objects::DISCONNECT_CONTROL).await.unwrap();
    assert_eq!(breaker.output_state, Some(true));
    assert_eq!(breaker.control_state, Some(ControlState::Connected));
    assert_eq!(breaker.control_mode.map(|m| m.value()), Some(1));
    c.remote_disconnect(objects::DISCONNECT_CONTROL)
        .await
        .unwrap();
    let breaker: cosem::DisconnectControl =
        c.read_object(objects::DISCONNECT_CONTROL).await.unwrap();
    assert_eq!(breaker.output_state, Some(false));
    assert_eq!(breaker.control_state, Some(ControlState::Disconnected));
    assert_eq!(lock(&m.face).disconnect, DisconnectState::Disconnected);
    c.remote_reconnect(objects::DISCONNECT_CONTROL)
        .await
        .unwrap();
    assert_eq!(lock(&m.face).disconnect, DisconnectState::Connected);

    // The push setup: its own name first, and no destination configured (TCP, A-XDR).
    let push: cosem::PushSetup = c.read_object(objects::PUSH_SETUP).await.unwrap();
    let destination = push.send_destination_and_method.unwrap();
    assert_eq!(destination.transport, TransportService::Tcp);
    assert!(destination.destination.is_empty());
    assert_eq!(destination.message, MessageType::AxdrApdu);
    assert_eq!(
        push.push_object_list.unwrap()[0],
        CaptureObjectDefinition::new(40, objects::PUSH_SETUP, 1)
    );

    // The SAP assignment names this logical device.
    let sap: cosem::SapAssignment = c.read_object(objects::SAP_ASSIGNMENT).await.unwrap();
    assert!(
        sap.sap_assignment_list
            .unwrap()
            .contains(&SapAssignmentEntry {
                sap: SERVER_SAP,
                logical_device_name: name.clone().into(),
            })
    );
    let device: cosem::DataObject = c.read_object(objects::DEVICE_NAME).await.unwrap();
    assert_eq!(device.value, Some(Data::OctetString(name)));

    // The association as it sees itself; its secret is refused (None), the rest is there.
    let assoc: cosem::AssociationLn = c
        .read_object_attributes(objects::ASSOCIATION_LN, &[2, 3, 4, 5, 6, 7, 8, 9])
        .await
        .unwrap();
    assert_eq!(assoc.secret, None);
    assert_eq!(assoc.object_list.as_ref().map(Vec::len), Some(list.len()));
    let partners = assoc.associated_partners_id.unwrap();
    assert_eq!(
        (partners.client_sap, partners.server_sap),
        (MANAGEMENT_CLIENT as i8, SERVER_SAP)
    );
    assert_eq!(
        assoc.application_context_name,
        Some(ApplicationContext::LN_CIPHERED)
    );
    assert_eq!(
        assoc.authentication_mechanism_name,
        Some(MechanismName::HIGH_GMAC)
    );
    assert_eq!(
        assoc.association_status,
        Some(cosem::AssociationStatus::Associated)
    );
    assert_eq!(
        assoc.security_setup_reference,
        Some(objects::SECURITY_SETUP)
    );
    assert!(
        assoc
            .xdlms_context_info
            .unwrap()
            .conformance
            .has(Conformance::MULTIPLE_REFERENCES)
    );

    // The load profile: its first four entries, matched to the capture objects.
    let profile: cosem::ProfileGeneric = c.read_object(objects::LOAD_PROFILE).await.unwrap();
    assert_eq!(
        profile.capture_objects.as_deref(),
        Some(&objects::capture_objects(objects::ProfileKind::Load)[..])
    );
    let table = c
        .read_profile_buffer(&profile, Some(EntryDescriptor::entries(1, 4).into()))
        .await
        .unwrap();
    assert_eq!(table.rows.len(), 4);
    assert_eq!(table.time_column, Some(0));
    let period = Duration::seconds(i64::from(profile.capture_period.unwrap()));
    let times: Vec<NaiveDateTime> = table
        .rows
        .iter()
        .map(|r| r.time.unwrap().to_naive_local().unwrap())
        .collect();
    let expected: Vec<NaiveDateTime> = objects::load_rows(&lock(&m.meter), None)
        .into_iter()
        .take(4)
        .map(|r| r.0)
        .collect();
    assert_eq!(times, expected);
    assert!(times.windows(2).all(|w| w[1] - w[0] >= period));

    c.finish().await.unwrap();
    drop(c);
    server.await.unwrap().unwrap();
}

/// The management client's methods beyond the calendar, through the typed object model:
/// special days inserted and deleted (pending until the next activation, read back as
/// written), the end-of-billing script (a new billing period: the maximum demand starts over),
/// and a push to a destination it sets (a data-notification over the wrapper carrying the
/// push object list's values). The public client may do none of it.
#[tokio::test]
async fn special_days_billing_script_and_push() {
    use metermaster_dlms::apdu::{Apdu, DataNotification};
    use metermaster_dlms::axdr::CosemDate;
    use metermaster_dlms::cosem::{
        self, MessageType, SendDestination, SpecialDay, SpecialDaysTable, TransportService,
    };
    use metermaster_dlms::wrapper::WrapperSplitter;
    use tokio::io::AsyncReadExt;

    let m = sim(1);
    let (mut c, _server) = typed_management(&m).await;

    // Special days: insert two, replace one, delete one.
    let before: SpecialDaysTable = c.read_object(objects::SPECIAL_DAYS).await.unwrap();
    let n0 = before.entries.as_ref().map_or(0, Vec::len);
    let day = |index: u16, month: u8, d: u8| SpecialDay {
        index,
        date: CosemDate {
            year: 0xFFFF,
            month,
            day: d,
            weekday: 0xFF,
        },
        day_id: 1,
    };
    for e in [day(90, 12, 24), day(91, 12, 31), day(90, 12, 23)] {
        c.invoke(objects::SPECIAL_DAYS, SpecialDaysTable::insert(e))
            .await
            .unwrap();
    }
    c.invoke(objects::SPECIAL_DAYS, SpecialDaysTable::delete(91))
        .await
        .unwrap();
    let after: SpecialDaysTable = c.read_object(objects::SPECIAL_DAYS).await.unwrap();
    let entries = after.entries.unwrap();
    assert_eq!(entries.len(), n0 + 1, "{entries:?}");
    assert!(entries.contains(&day(90, 12, 23)));
    assert!(!entries.iter().any(|e| e.index == 91));
    // A malformed entry is refused.
    let bad = c
        .action(
            metermaster_dlms::apdu::MethodDescriptor::new(11, objects::SPECIAL_DAYS, 1),
            Some(Data::Unsigned(3)),
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("type-unmatched"), "{bad}");

    // The end-of-billing script: the current period's maximum demand starts over.
    let resets_before = {
        let meter = lock(&m.meter);
        meter.billing_reset_times(meter.model_now()).len()
    };
    lock(&m.meter).advance(3600);
    c.execute_script(objects::BILLING_SCRIPT, 1).await.unwrap();
    let resets_after = {
        let meter = lock(&m.meter);
        meter.billing_reset_times(meter.model_now()).len()
    };
    assert_eq!(resets_after, resets_before + 1);
    let err = c
        .execute_script(objects::BILLING_SCRIPT, 2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("other-reason"), "{err}");

    // Push: without a destination it is refused; with one, a data-notification arrives.
    assert!(c.push_now(objects::PUSH_SETUP).await.is_err());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut push: cosem::PushSetup = c.read_object(objects::PUSH_SETUP).await.unwrap();
    push.send_destination_and_method = Some(SendDestination {
        transport: TransportService::Tcp,
        destination: address.as_bytes().to_vec().into(),
        message: MessageType::AxdrApdu,
    });
    c.write_object_attribute(&push, 3).await.unwrap();
    let back: cosem::PushSetup = c.read_object(objects::PUSH_SETUP).await.unwrap();
    assert_eq!(
        back.send_destination_and_method.unwrap().destination,
        address.as_bytes().to_vec().into()
    );
    c.push_now(objects::PUSH_SETUP).await.unwrap();
    let (mut s, _) = tokio::time::timeout(std::time::Duration::from_secs(5), listener.accept())
        .await
        .expect("a push connection")
        .unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).await.unwrap();
    let mut splitter = WrapperSplitter::new(4096);
    splitter.push(&bytes);
    let frame = splitter.next_frame().unwrap().unwrap();
    assert_eq!(
        (frame.source, frame.destination),
        (SERVER_SAP, super::PUSH_CLIENT)
    );
    let Apdu::DataNotification(DataNotification {
        long_invoke_id_and_priority,
        date_time,
        body,
    }) = Apdu::decode(&frame.apdu).unwrap()
    else {
        panic!("not a data-notification")
    };
    assert_eq!(long_invoke_id_and_priority, 1);
    assert!(date_time.is_some());
    let values = body.as_elements().unwrap();
    assert_eq!(values[0], Data::logical_name(objects::PUSH_SETUP));
    assert_eq!(values[1], Data::visible_string("10000001"));
    let import = {
        let mut meter = lock(&m.meter);
        let now = meter.model_now();
        meter.totals_at(now).energy[0]
    };
    assert_eq!(values[3].as_u64(), Some(import));
    c.finish().await.unwrap();

    // The public client may not.
    let mut p = public(&m, 0xFFFF);
    for (class, ln, method, param) in [
        (11, objects::SPECIAL_DAYS, 2, Some(Data::LongUnsigned(90))),
        (9, objects::BILLING_SCRIPT, 1, Some(Data::LongUnsigned(1))),
        (40, objects::PUSH_SETUP, 1, None),
    ] {
        let (r, _) = p.action(MethodDescriptor::new(class, ln, method), param);
        assert_ne!(r, Dar::Success, "{ln:?} method {method}");
    }
}
