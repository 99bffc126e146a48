//! The FLAG face of a simulated meter: its memory laid out as Elster data identities, the
//! password levels, and the data readout telegram.

use chrono::{Datelike, NaiveDateTime, Timelike};
use metermaster_flag::cipher::{elster_p2, password_bytes};
use metermaster_flag::codec::{
    decode_clock, encode_clock, padded_ascii, to_bcd_le, to_local_epoch,
};
use metermaster_flag::ids::{self, MeterModel};
use metermaster_flag::readout::{DataLine, DataValue};
use metermaster_flag::server::{Access, MeterFace};

use crate::meter::{CT_RATIO_CENTI, PROFILE_MASK, SimMeter, VT_RATIO_CENTI};
use metermaster_flag::program::{self, Program, ProgramStatus, SessionNote};

const ERR_NO_ID: u8 = 2;
const ERR_PACKET: u8 = 3;
const ERR_LOCKED: u8 = 5;
/// A commit the meter refuses: nothing (or not all) staged, a length or CRC that does not
/// match, or an image that is not a program for this meter (metermaster's code).
const ERR_PROGRAM: u8 = 6;

impl SimMeter {
    fn program_status(&self) -> ProgramStatus {
        ProgramStatus {
            staged: self.staging.as_ref().map_or(0, |s| s.staged()),
            expected: self.staging.as_ref().map_or(0, |s| s.expected),
            interrupted: self.interrupted.clone(),
            active_len: self.active_image.len() as u16,
            active_crc: if self.active_image.is_empty() {
                0
            } else {
                program::image_crc(&self.active_image)
            },
            active_label: self.active_label(),
        }
    }

    /// 941: `01 LLLL CCCC` begin, `02 CCCC` commit, `00` abandon.
    fn program_control(&mut self, data: &[u8]) -> Result<(), u8> {
        match data {
            [0] => {
                self.staging = None;
                Ok(())
            }
            [1, l0, l1, c0, c1] => {
                let len = usize::from(u16::from_le_bytes([*l0, *l1]));
                if len == 0 || len > program::MAX_IMAGE {
                    return Err(ERR_PROGRAM);
                }
                self.staging = Some(crate::meter::Staging {
                    expected: len as u16,
                    crc: u16::from_le_bytes([*c0, *c1]),
                    buf: vec![0; len],
                    got: vec![false; len.div_ceil(64)],
                });
                Ok(())
            }
            [2, c0, c1] => {
                let crc = u16::from_le_bytes([*c0, *c1]);
                let st = self.staging.as_ref().ok_or(ERR_PROGRAM)?;
                if !st.got.iter().all(|g| *g) || st.crc != crc || program::image_crc(&st.buf) != crc
                {
                    return Err(ERR_PROGRAM);
                }
                let p = Program::decode(&st.buf).map_err(|_| ERR_PROGRAM)?;
                let family_ok = matches!(
                    (p.family, self.model()),
                    (program::Family::A1140, MeterModel::A1140)
                        | (program::Family::A1700, MeterModel::A1700)
                );
                let regs_ok = p.rates.iter().all(|r| {
                    usize::from(r.register) <= self.model().tou_count()
                        && self.channel_of_source(r.source).is_some()
                });
                if !family_ok || !regs_ok {
                    return Err(ERR_PROGRAM);
                }
                let image = st.buf.clone();
                self.staging = None;
                self.commit_program(p, image, 1);
                Ok(())
            }
            _ => Err(ERR_PACKET),
        }
    }

    fn registers_image(&mut self, t: NaiveDateTime) -> Vec<u8> {
        let tot = self.totals_at(t);
        let model = self.model();
        let chan: Vec<Option<usize>> = (0u8..=15).map(|s| self.channel_of_source(s)).collect();
        ids::encode_cumulative(model, |src| {
            chan.get(usize::from(src))
                .copied()
                .flatten()
                .map_or(0, |c| tot.energy[c])
        })
    }

    fn tou_image(&mut self, t: NaiveDateTime) -> Vec<u8> {
        let mut v: Vec<u8> = self
            .tou_at(t)
            .into_iter()
            .flat_map(|x| to_bcd_le(x, 8))
            .collect();
        v.resize(self.model().tou_count() * 8, 0);
        v
    }

    fn md_image(&mut self, t: NaiveDateTime) -> Vec<u8> {
        let top = self.md_at(t);
        let srcs = self.md_sources();
        let mut entries = Vec::new();
        for (s, src) in srcs.iter().enumerate() {
            for p in top[s] {
                entries.push((*src, p.1, p.0));
            }
        }
        ids::encode_md(self.model(), &entries)
    }

    fn cmd_image(&mut self, t: NaiveDateTime) -> Vec<u8> {
        let cmd = self.cmd_at(t);
        let entries: Vec<(u8, u64)> = self.md_sources().into_iter().zip(cmd).collect();
        ids::encode_cmd(self.model(), &entries)
    }

    fn history_set(&mut self, id: u16, k: usize) -> Vec<u8> {
        let model = self.model();
        let len = model.history_set_len();
        let now = self.model_now();
        let (at, trigger) = if id == ids::DAILY_HISTORY {
            let midnight =
                now.date().and_hms_opt(0, 0, 0).unwrap_or(now) - chrono::Duration::days(k as i64);
            (Some(midnight), 0u8)
        } else {
            (self.billing_reset_times(now).get(k).copied(), 0x01)
        };
        let Some(at) = at.filter(|t| *t > self.history_start()) else {
            return vec![0; len];
        };
        let mut out = Vec::with_capacity(len);
        match model {
            MeterModel::A1140 => {
                out.extend(self.registers_image(at));
                let mut tou = self.tou_image(at);
                tou.resize(128, 0);
                out.extend(tou);
                let mut src = self.tou_sources();
                src.resize(16, 0xFF);
                out.extend(src);
                out.extend(self.cmd_image(at));
                out.extend(self.md_image(at - chrono::Duration::seconds(1)));
                out.push(trigger);
                out.extend(to_local_epoch(Some(at)));
            }
            MeterModel::A1700 => {
                out.extend(self.registers_image(at));
                out.extend(self.tou_image(at));
                out.extend([0u8; 32]);
                out.extend(self.cmd_image(at));
                out.extend(self.md_image(at - chrono::Duration::seconds(1)));
                let count = self.billing_reset_times(at).len() as u16;
                out.extend(count.to_le_bytes());
                let prev = self
                    .billing_reset_times(at - chrono::Duration::seconds(1))
                    .first()
                    .copied();
                out.extend(to_local_epoch(prev));
                out.extend(to_local_epoch(Some(at)));
                out.push(trigger);
                out.extend(to_local_epoch(Some(at)));
            }
        }
        out.resize(len, 0);
        out
    }

    fn event_log_image(&self, id: u16) -> Option<Vec<u8>> {
        let log = self.event_log(id)?;
        Some(ids::encode_event_log(
            log.count,
            &log.latest,
            self.model().id_len(id) == Some(17),
        ))
    }

    fn instant_values(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for code in self.instant_request {
            match ids::instant_from_code(code & 0x7F) {
                Some((q, phase)) => out.extend(ids::encode_instant(self.instant_e4(q, phase))),
                None => out.extend([0xFF; 7]),
            }
        }
        out
    }

    /// The whole image of an identity.
    fn image(&mut self, id: u16) -> Result<Vec<u8>, u8> {
        let model = self.model();
        let now = self.model_now();
        Ok(match id {
            ids::SERIAL => self.serial16().into_bytes(),
            ids::SCHEME => padded_ascii(&self.cfg.scheme_id, model.id_len(id).unwrap_or(8)),
            ids::FIRMWARE => padded_ascii(&format!("SIM{} 0.1", model.name()), 12),
            ids::CLOCK => encode_clock(self.now()).to_vec(),
            ids::CUMULATIVE => self.registers_image(now),
            ids::TOU => self.tou_image(now),
            ids::TOU_SOURCES => self.tou_sources(),
            ids::CMD => self.cmd_image(now),
            ids::MD => self.md_image(now),
            ids::MD_SOURCES => {
                let mut v = self.md_sources();
                v.resize(8, 0xFF);
                v
            }
            ids::CT_RATIO => ids::encode_ct(model, CT_RATIO_CENTI.0, CT_RATIO_CENTI.1),
            ids::VT_RATIO if model == MeterModel::A1700 => {
                let mut v = to_bcd_le(u64::from(VT_RATIO_CENTI.0), 4);
                v.extend(to_bcd_le(u64::from(VT_RATIO_CENTI.1), 3));
                v
            }
            ids::STATUS => vec![0; model.id_len(id).unwrap_or(4)],
            ids::PROFILE_MASK => PROFILE_MASK.to_be_bytes().to_vec(),
            ids::PROFILE_DST if model == MeterModel::A1140 => vec![0],
            ids::INTEGRATION => match model {
                MeterModel::A1140 => vec![
                    metermaster_flag::profile::period_code(self.period_min()).unwrap_or(7),
                    0,
                    0,
                ],
                MeterModel::A1700 => {
                    let m = self.period_min() as u8;
                    vec![
                        metermaster_flag::codec::to_bcd_byte(m),
                        metermaster_flag::codec::to_bcd_byte(m),
                        1,
                    ]
                }
            },
            ids::PROFILE_SELECT => {
                let img = match &self.profile_image {
                    Some(i) => i.clone(),
                    None => self.select_profile_days(1),
                };
                let packets = (img.len() / 64) as u16;
                let blocks = img.len().div_ceil(256) as u16;
                let mut v = packets.to_be_bytes().to_vec();
                v.extend(blocks.to_be_bytes());
                v
            }
            ids::PROFILE_DATA => match &self.profile_image {
                Some(i) => i.clone(),
                None => self.select_profile_days(1),
            },
            ids::PROGRAMMING_LOG => {
                let recs: Vec<(NaiveDateTime, u8, String)> = self
                    .programming
                    .iter()
                    .rev()
                    .take(3)
                    .map(|p| (p.time, p.port, p.user.clone()))
                    .collect();
                ids::encode_programming(model, self.programming_count(), &recs)
            }
            ids::INSTANT_REQUEST if model == MeterModel::A1700 => {
                self.instant_request.iter().map(|c| c | 0x80).collect()
            }
            ids::INSTANT_VALUES if model == MeterModel::A1700 => self.instant_values(),
            program::STATUS => self.program_status().encode(),
            program::ACTIVE => self.active_image.clone(),
            program::NOTES => {
                let notes: Vec<SessionNote> = self
                    .programming
                    .iter()
                    .rev()
                    .take(3)
                    .map(|p| p.note.clone())
                    .collect();
                SessionNote::encode_all(&notes)
            }
            691..=701 => self.event_log_image(id).ok_or(ERR_NO_ID)?,
            _ => return Err(ERR_NO_ID),
        })
    }
}

impl MeterFace for SimMeter {
    fn identification(&self) -> (String, u8, String) {
        let manufacturer = if self.cfg.fast_reaction { "GEc" } else { "GEC" };
        let ident = match self.model() {
            MeterModel::A1140 => "120510070213@000",
            MeterModel::A1700 => "090100010300@000",
        };
        (manufacturer.to_string(), b'5', ident.to_string())
    }

    fn new_seed(&mut self) -> [u8; 8] {
        SimMeter::new_seed(self)
    }

    fn check_password(&self, seed: &[u8; 8], answer: &[u8]) -> Option<Access> {
        self.cfg
            .passwords
            .iter()
            .filter_map(|(pw, level)| password_bytes(pw).map(|p| (p, *level)))
            .filter(|(p, _)| elster_p2(p, seed).as_slice() == answer)
            .map(|(_, level)| Access::Level(level))
            .max()
    }

    fn read_id(&mut self, id: u16, access: Access) -> Result<Vec<u8>, u8> {
        if access == Access::None && id != ids::SERIAL {
            return Err(ERR_LOCKED);
        }
        self.image(id)
    }

    fn read_range(
        &mut self,
        id: u16,
        offset: usize,
        len: usize,
        access: Access,
    ) -> Result<Vec<u8>, u8> {
        if matches!(id, ids::BILLING_HISTORY | ids::DAILY_HISTORY) {
            if access == Access::None {
                return Err(ERR_LOCKED);
            }
            let model = self.model();
            if id == ids::DAILY_HISTORY && model == MeterModel::A1700 {
                return Err(ERR_NO_ID);
            }
            let set_len = model.history_set_len();
            let stride = set_len.div_ceil(64) * 64;
            let k = offset / stride;
            let within = offset % stride;
            if k >= model.history_sets(id) || within + len > set_len {
                return Err(ERR_PACKET);
            }
            let set = self.history_set(id, k);
            return Ok(set[within..within + len].to_vec());
        }
        metermaster_flag::server::slice_image(&self.read_id(id, access)?, offset, len)
    }

    fn write_id(&mut self, id: u16, data: &[u8], access: Access) -> Result<(), u8> {
        let need = |min: Access| {
            if access >= min {
                Ok(())
            } else {
                Err(ERR_LOCKED)
            }
        };
        match id {
            ids::PROFILE_SELECT => {
                need(Access::ReadOnly)?;
                let days = match data {
                    [a, b] => u16::from_le_bytes([*a, *b]),
                    _ => return Err(ERR_PACKET),
                };
                let days = if days == 0xFFFF { u16::MAX } else { days };
                let span = (self.model_now().date() - self.history_start().date()).num_days() + 1;
                self.select_profile_days(days.min(span.clamp(1, 65_534) as u16));
                Ok(())
            }
            ids::INSTANT_REQUEST if self.model() == MeterModel::A1700 => {
                need(Access::ReadOnly)?;
                if data.is_empty() || data.len() > 4 {
                    return Err(ERR_PACKET);
                }
                self.instant_request = [0; 4];
                self.instant_request[..data.len()].copy_from_slice(data);
                Ok(())
            }
            ids::OPERATOR_NAME => {
                need(Access::Level(1))?;
                if data.len() != 12 {
                    return Err(ERR_PACKET);
                }
                self.operator = metermaster_flag::codec::ascii(data);
                Ok(())
            }
            ids::CLOCK => {
                // A trim within the limit needs level 1; a time set beyond it level 2 (and
                // counts as programming).
                let t = decode_clock(data).ok_or(ERR_PACKET)?;
                let trim = (t - self.now()).num_seconds().abs() <= crate::meter::CLOCK_TRIM_LIMIT_S;
                need(Access::Level(if trim { 1 } else { 2 }))?;
                self.set_clock(t, 1);
                Ok(())
            }
            ids::BILLING_RESET => {
                need(Access::Level(2))?;
                self.billing_reset();
                Ok(())
            }
            program::CONTROL => {
                need(Access::Level(3))?;
                self.program_control(data)
            }
            _ => Err(ERR_NO_ID),
        }
    }

    fn write_packet(
        &mut self,
        id: u16,
        packet: u32,
        data: &[u8],
        access: Access,
    ) -> Result<(), u8> {
        if id != program::STAGE {
            return if packet == 1 {
                self.write_id(id, data, access)
            } else {
                Err(ERR_PACKET)
            };
        }
        if access < Access::Level(3) {
            return Err(ERR_LOCKED);
        }
        let st = self.staging.as_mut().ok_or(ERR_PROGRAM)?;
        let offset = (packet as usize - 1) * 64;
        let want = st.buf.len().saturating_sub(offset).min(64);
        if want == 0 || data.len() != want {
            return Err(ERR_PACKET);
        }
        st.buf[offset..offset + want].copy_from_slice(data);
        st.got[packet as usize - 1] = true;
        Ok(())
    }

    fn readout(&mut self) -> Vec<DataLine> {
        let now = self.model_now();
        let clock = self.now();
        let tot = self.totals_at(now);
        let md = self.md_at(now);
        let line = |address: &str, value: String, unit: Option<&str>| DataLine {
            address: address.to_string(),
            values: vec![DataValue {
                value,
                unit: unit.map(str::to_string),
            }],
        };
        // Registers are shown in kWh with three decimals (watt-hours), as meter displays do.
        let kwh = |mwh: u64| format!("{:06}.{:03}", mwh / 1_000_000, (mwh / 1000) % 1000);
        let mut lines = vec![
            line("0.0.0", self.cfg.serial.clone(), None),
            line("C.1.0", self.serial16(), None),
            line(
                "0.9.1",
                format!(
                    "{:02}:{:02}:{:02}",
                    clock.hour(),
                    clock.minute(),
                    clock.second()
                ),
                None,
            ),
            line(
                "0.9.2",
                format!(
                    "{:02}-{:02}-{:02}",
                    clock.year() % 100,
                    clock.month(),
                    clock.day()
                ),
                None,
            ),
            line("1.8.0", kwh(tot.energy[0]), Some("kWh")),
        ];
        // The TOU registers holding import energy, as rates 1.8.1, 1.8.2, ...
        let import_src = self.source_of_channel(0);
        let mut k = 0;
        for (v, src) in tot.tou.iter().zip(self.tou_sources()) {
            if src == import_src {
                k += 1;
                lines.push(line(&format!("1.8.{k}"), kwh(*v), Some("kWh")));
            }
        }
        lines.extend([
            line("2.8.0", kwh(tot.energy[1]), Some("kWh")),
            line("5.8.0", kwh(tot.energy[2]), Some("kvarh")),
            line("8.8.0", kwh(tot.energy[5]), Some("kvarh")),
        ]);
        let (peak, at) = md[0][0];
        let mut md_line = line(
            "1.6.0",
            format!("{:02}.{:03}", peak / 1_000_000, (peak / 1000) % 1000),
            Some("kW"),
        );
        if let Some(t) = at {
            md_line.values.push(DataValue {
                value: t.format("%y-%m-%d %H:%M").to_string(),
                unit: None,
            });
        }
        lines.push(md_line);
        lines.push(line("F.F", "00000000".into(), None));
        lines
    }

    fn session_ended(&mut self) {
        self.profile_image = None;
        self.abandon_staging();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::MeterConfig;
    use chrono::NaiveDate;

    #[test]
    fn history_sets_decode() {
        let start = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        for model in [MeterModel::A1140, MeterModel::A1700] {
            let mut m = SimMeter::new(MeterConfig::new("10000001", model, 9, start));
            let len = model.history_set_len();
            let set = m
                .read_range(ids::BILLING_HISTORY, 0, len, Access::ReadOnly)
                .unwrap();
            let h = ids::decode_history_set(model, ids::BILLING_HISTORY, &set, 0)
                .unwrap()
                .unwrap();
            assert_eq!(h.reset.unwrap().to_string(), "2024-03-01 00:00:00");
            let import = h
                .registers
                .iter()
                .find(|r| r.obis == metermaster_model::ObisCode::elec(1, 8, 0))
                .unwrap();
            let at = NaiveDate::from_ymd_opt(2024, 3, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            assert_eq!(import.value.raw as u64, m.totals_at(at).energy[0]);
        }
    }
}
