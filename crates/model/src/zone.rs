//! Time zones: an IANA zone with its daylight-saving rules, or a fixed offset from UTC. One type
//! for every place that reads a zone from a file or a command line, so all of them accept the
//! same texts and place local times on the time line the same way.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time zone: an IANA zone (`Europe/London`, `Australia/Sydney`, `UTC`) or a fixed offset
/// from UTC (`+10:00`).
///
/// [`FromStr`] accepts, around optional whitespace:
///
/// * an IANA name as the tz database spells it (`Europe/London`), and `UTC` in any case;
/// * `Z`, a fixed offset of zero;
/// * a fixed offset `±HH:MM`, `±HHMM` or `±HH`, optionally after `UTC` (`+10:00`, `-05:30`,
///   `+1000`, `UTC+10`, `UTC-07:00`), from -14:00 to +14:00.
///
/// [`Display`](fmt::Display) writes the IANA name or `±HH:MM`, which parses back to the same
/// zone; serde uses that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// An IANA zone with its daylight-saving rules.
    Named(Tz),
    /// A fixed offset: no daylight saving.
    Fixed(FixedOffset),
}

/// Why a text is not a time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time zone {text:?}: {reason}")]
pub struct ZoneParseError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Where a local date and time falls on a zone's time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalTime {
    /// The local time occurs once, at this instant.
    Single(DateTime<Utc>),
    /// The clocks go back over the local time: it occurs twice.
    Repeated {
        earlier: DateTime<Utc>,
        later: DateTime<Utc>,
    },
    /// The clocks go forward over the local time: it never occurs.
    Skipped {
        /// The instant the clocks jump, the first whose local time is later.
        jump: DateTime<Utc>,
        /// The local time read with the offset in force before the jump, which is the same
        /// as moving it forward by the length of the gap: 02:30 in a 02:00 → 03:00 gap is the
        /// instant of 03:30.
        shifted: DateTime<Utc>,
    },
}

impl LocalTime {
    /// The instant when the local time occurs once.
    pub const fn single(self) -> Option<DateTime<Utc>> {
        match self {
            LocalTime::Single(t) => Some(t),
            _ => None,
        }
    }

    /// The first instant with this local time: `None` when it is skipped.
    pub const fn earliest(self) -> Option<DateTime<Utc>> {
        match self {
            LocalTime::Single(t) | LocalTime::Repeated { earlier: t, .. } => Some(t),
            LocalTime::Skipped { .. } => None,
        }
    }

    /// One instant for every local time, as a wall-clock schedule means it: the earlier of a
    /// repeated time, and a skipped time moved forward by the length of the gap (what
    /// java.time and RFC 9557's "compatible" disambiguation do).
    pub const fn compatible(self) -> DateTime<Utc> {
        match self {
            LocalTime::Single(t)
            | LocalTime::Repeated { earlier: t, .. }
            | LocalTime::Skipped { shifted: t, .. } => t,
        }
    }

    /// Whether the local time occurs exactly once.
    pub const fn is_single(self) -> bool {
        matches!(self, LocalTime::Single(_))
    }
}

/// Offsets run from -14:00 to +14:00 (the widest any zone has in use).
const MAX_OFFSET_S: i32 = 14 * 3600;

impl Zone {
    /// UTC, the IANA zone.
    pub const UTC: Zone = Zone::Named(Tz::UTC);

    /// The fixed offset of `seconds` east of UTC, or `None` beyond ±14 hours.
    pub fn fixed(seconds: i32) -> Option<Zone> {
        if seconds.abs() > MAX_OFFSET_S {
            return None;
        }
        FixedOffset::east_opt(seconds).map(Zone::Fixed)
    }

    /// Parses a zone as [`FromStr`] does.
    pub fn parse(text: &str) -> Result<Zone, ZoneParseError> {
        let err = |reason| ZoneParseError {
            text: text.to_string(),
            reason,
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        if t.eq_ignore_ascii_case("utc") {
            return Ok(Zone::UTC);
        }
        if t == "Z" {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        let offset = match t.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("utc") => Some(&t[3..]),
            _ => t.starts_with(['+', '-']).then_some(t),
        };
        if let Some(offset) = offset {
            let seconds = parse_offset(offset).ok_or_else(|| {
                err("expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00")
            })?;
            return Zone::fixed(seconds).ok_or_else(|| err("offsets run from -14:00 to +14:00"));
        }
        Tz::from_str(t).map(Zone::Named).map_err(|_| {
            err("not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)")
        })
    }

    /// Whether the zone can change its offset (a named zone; fixed offsets never do).
    pub const fn is_named(&self) -> bool {
        matches!(self, Zone::Named(_))
    }

    /// The offset from UTC in force at `t`, daylight saving included.
    pub fn offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Named(tz) => tz.offset_from_utc_datetime(&t.naive_utc()).fix(),
            Zone::Fixed(o) => *o,
        }
    }

    /// The zone's standard offset at `t`: the offset without daylight saving, what a meter
    /// kept on standard time all year shows. It is the smaller of the offsets in force in the
    /// middle of January and of July of `t`'s year (and at `t`): the tz database's own split
    /// into base and saving calls Irish winter time (GMT) a negative saving from a base of
    /// UTC+1, but a meter in Dublin keeps GMT in winter.
    pub fn standard_offset_at(&self, t: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Named(_) => {
                use chrono::Datelike;
                let year = t.year();
                [1, 7]
                    .into_iter()
                    .filter_map(|m| {
                        chrono::NaiveDate::from_ymd_opt(year, m, 15)
                            .and_then(|d| d.and_hms_opt(12, 0, 0))
                            .map(|n| n.and_utc())
                    })
                    .chain([t])
                    .map(|u| self.offset_at(u))
                    .min_by_key(|o| o.local_minus_utc())
                    .unwrap_or_else(|| self.offset_at(t))
            }
            Zone::Fixed(o) => *o,
        }
    }

    /// The local wall-clock time at the instant `t` (clamped at the ends of the representable
    /// range).
    pub fn to_local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        let o = self.offset_at(t);
        match t.naive_utc().checked_add_offset(o) {
            Some(l) => l,
            None if o.local_minus_utc() > 0 => NaiveDateTime::MAX,
            None => NaiveDateTime::MIN,
        }
    }

    /// Where the local wall-clock time `local` falls on the zone's time line: once, twice
    /// (the clocks go back over it) or never (they go forward over it).
    pub fn from_local(&self, local: NaiveDateTime) -> LocalTime {
        let tz = match self {
            Zone::Fixed(o) => return LocalTime::Single(minus(local, *o)),
            Zone::Named(tz) => tz,
        };
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => LocalTime::Single(t.to_utc()),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.to_utc(), b.to_utc());
                LocalTime::Repeated {
                    earlier: a.min(b),
                    later: a.max(b),
                }
            }
            LocalResult::None => self.gap(local),
        }
    }

    /// The jump over a local time that does not occur. Every instant whose local time is
    /// within a day of `local` lies within 26 hours of it read as UTC, so a bisection between
    /// those bounds finds the one-second step over which local time passes `local`.
    fn gap(&self, local: NaiveDateTime) -> LocalTime {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let whole = local.and_utc().timestamp();
        let reach = 26 * 3600;
        let (mut lo, mut hi) = (whole - reach, whole + reach);
        // local(lo) < local < local(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.to_local(at(mid)) <= local {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (lo, hi) = (at(lo), at(hi));
        LocalTime::Skipped {
            jump: hi,
            shifted: minus(local, self.offset_at(lo)),
        }
    }
}

/// The instant of `local` at the offset `o`, clamped to the representable range at its ends.
fn minus(local: NaiveDateTime, o: FixedOffset) -> DateTime<Utc> {
    match local.checked_sub_offset(o) {
        Some(t) => t.and_utc(),
        None if o.local_minus_utc() > 0 => DateTime::<Utc>::MIN_UTC,
        None => DateTime::<Utc>::MAX_UTC,
    }
}

/// `HH:MM`, `HHMM` or `HH` after a sign, as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, hm) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let b = hm.as_bytes();
    let two = |i: usize| -> Option<i32> {
        match (b.get(i), b.get(i + 1)) {
            (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
                Some(i32::from(x - b'0') * 10 + i32::from(y - b'0'))
            }
            _ => None,
        }
    };
    let (h, m) = match b.len() {
        2 => (two(0)?, 0),
        4 => (two(0)?, two(2)?),
        5 if b[2] == b':' => (two(0)?, two(3)?),
        _ => return None,
    };
    (m <= 59).then_some(sign * (h * 3600 + m * 60))
}

impl FromStr for Zone {
    type Err = ZoneParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Zone::parse(text)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Named(tz) => f.write_str(tz.name()),
            Zone::Fixed(o) => {
                let s = o.local_minus_utc();
                let sign = if s < 0 { '-' } else { '+' };
                let m = s.unsigned_abs() / 60;
                write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
            }
        }
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Zone::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeDelta};
    use proptest::prelude::*;

    fn z(text: &str) -> Zone {
        text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn fixed(s: i32) -> Zone {
        Zone::fixed(s).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn names_and_offsets() {
        assert_eq!(z("Europe/London"), Zone::Named(Tz::Europe__London));
        assert_eq!(z(" Australia/Sydney "), Zone::Named(Tz::Australia__Sydney));
        assert_eq!(z("UTC"), Zone::UTC);
        assert_eq!(z("utc"), Zone::UTC);
        assert_eq!(z("Etc/GMT+10"), Zone::Named(Tz::Etc__GMTPlus10));
        assert_eq!(z("Z"), fixed(0));
        for (text, s) in [
            ("+10:00", 36_000),
            ("-05:30", -19_800),
            ("+1000", 36_000),
            ("-0530", -19_800),
            ("+10", 36_000),
            ("UTC+10", 36_000),
            ("UTC+10:00", 36_000),
            ("UTC-07:00", -25_200),
            ("utc-0700", -25_200),
            ("+14:00", 50_400),
            ("-14:00", -50_400),
            ("+00:00", 0),
            ("-00:00", 0),
            ("UTC+00", 0),
        ] {
            assert_eq!(z(text), fixed(s), "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for (text, shown) in [
            ("Europe/London", "Europe/London"),
            ("UTC", "UTC"),
            ("utc", "UTC"),
            ("Z", "+00:00"),
            ("+10:00", "+10:00"),
            ("-03:30", "-03:30"),
            ("UTC+10", "+10:00"),
            ("+0545", "+05:45"),
            ("-0000", "+00:00"),
        ] {
            let zone = z(text);
            assert_eq!(zone.to_string(), shown, "{text}");
            assert_eq!(z(shown), zone);
        }
    }

    #[test]
    fn errors_name_the_text() {
        for (bad, reason) in [
            ("", "empty"),
            ("  ", "empty"),
            (
                "Europe/Londn",
                "not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)",
            ),
            (
                "europe/london",
                "not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)",
            ),
            (
                "AEST",
                "not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)",
            ),
            ("+25:00", "offsets run from -14:00 to +14:00"),
            ("+14:01", "offsets run from -14:00 to +14:00"),
            (
                "+10:60",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "+1",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "+10:0",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "+10-00",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "UTC+",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "UTC10",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
            (
                "+１０:00",
                "expected a fixed offset as +HH:MM, +HHMM or +HH (or -), such as +10:00",
            ),
        ] {
            let e = Zone::parse(bad).expect_err(bad);
            assert_eq!((e.text.as_str(), e.reason), (bad, reason));
        }
        assert_eq!(
            "Europe/Londn".parse::<Zone>().unwrap_err().to_string(),
            "invalid time zone \"Europe/Londn\": not an IANA time zone name (such as Europe/London) or a fixed offset (+10:00)"
        );
    }

    #[test]
    fn serde_is_the_text() {
        let zone = z("Australia/Sydney");
        assert_eq!(
            serde_json::to_string(&zone).unwrap(),
            "\"Australia/Sydney\""
        );
        assert_eq!(serde_json::to_string(&z("-05:30")).unwrap(), "\"-05:30\"");
        assert_eq!(
            serde_json::from_str::<Zone>("\"UTC+10\"").unwrap(),
            fixed(36_000)
        );
        let e = serde_json::from_str::<Zone>("\"Mars/Olympus\"").unwrap_err();
        assert!(e.to_string().contains("\"Mars/Olympus\""), "{e}");
    }

    #[test]
    fn utc_to_local_and_offsets() {
        let london = z("Europe/London");
        let summer = utc("2026-07-01T12:00:00Z");
        let winter = utc("2026-01-01T12:00:00Z");
        assert_eq!(london.to_local(summer), local("2026-07-01 13:00"));
        assert_eq!(london.to_local(winter), local("2026-01-01 12:00"));
        assert_eq!(london.offset_at(summer).local_minus_utc(), 3600);
        assert_eq!(london.standard_offset_at(summer).local_minus_utc(), 0);
        // Ireland: the tz database's base is UTC+1 with a negative saving in winter; a meter
        // keeps GMT. Sydney keeps UTC+10 in its winter (July).
        let dublin: Zone = "Europe/Dublin".parse().unwrap();
        assert_eq!(dublin.standard_offset_at(summer).local_minus_utc(), 0);
        let sydney: Zone = "Australia/Sydney".parse().unwrap();
        assert_eq!(sydney.standard_offset_at(summer).local_minus_utc(), 36_000);
        assert_eq!(london.offset_at(winter).local_minus_utc(), 0);
        let fixed = z("-05:30");
        assert_eq!(fixed.to_local(summer), local("2026-07-01 06:30"));
        assert_eq!(fixed.offset_at(summer).local_minus_utc(), -19_800);
        assert_eq!(fixed.standard_offset_at(summer).local_minus_utc(), -19_800);
        assert!(london.is_named() && !fixed.is_named());
    }

    #[test]
    fn local_to_utc_single_repeated_skipped() {
        let london = z("Europe/London");
        assert_eq!(
            london.from_local(local("2026-07-01 13:00")),
            LocalTime::Single(utc("2026-07-01T12:00:00Z"))
        );
        // 2026-10-25: the clocks go back at 02:00 BST to 01:00 GMT.
        let back = london.from_local(local("2026-10-25 01:30"));
        assert_eq!(
            back,
            LocalTime::Repeated {
                earlier: utc("2026-10-25T00:30:00Z"),
                later: utc("2026-10-25T01:30:00Z"),
            }
        );
        assert_eq!(back.earliest(), Some(utc("2026-10-25T00:30:00Z")));
        assert_eq!(back.compatible(), utc("2026-10-25T00:30:00Z"));
        assert_eq!(back.single(), None);
        // 2026-03-29: the clocks go forward at 01:00 GMT to 02:00 BST.
        let forward = london.from_local(local("2026-03-29 01:30"));
        assert_eq!(
            forward,
            LocalTime::Skipped {
                jump: utc("2026-03-29T01:00:00Z"),
                shifted: utc("2026-03-29T01:30:00Z"),
            }
        );
        assert_eq!(forward.earliest(), None);
        assert_eq!(forward.compatible(), utc("2026-03-29T01:30:00Z"));
        assert_eq!(
            london.from_local(local("2026-03-29 01:00")),
            LocalTime::Skipped {
                jump: utc("2026-03-29T01:00:00Z"),
                shifted: utc("2026-03-29T01:00:00Z"),
            }
        );
        assert!(london.from_local(local("2026-03-29 02:00")).is_single());
        // Sydney goes forward at 02:00 AEST (+10) to 03:00 AEDT (+11).
        let sydney = z("Australia/Sydney");
        assert_eq!(
            sydney.from_local(local("2026-10-04 02:15")),
            LocalTime::Skipped {
                jump: utc("2026-10-03T16:00:00Z"),
                shifted: utc("2026-10-03T16:15:00Z"),
            }
        );
        // Lord Howe Island's half-hour gap: 02:00 (+10:30) → 02:30 (+11).
        let lord_howe = z("Australia/Lord_Howe");
        assert_eq!(
            lord_howe.from_local(local("2026-10-04 02:10")),
            LocalTime::Skipped {
                jump: utc("2026-10-03T15:30:00Z"),
                shifted: utc("2026-10-03T15:40:00Z"),
            }
        );
        // A gap at midnight (Santiago: 00:00 -04 → 01:00 -03).
        let santiago = z("America/Santiago");
        assert_eq!(
            santiago.from_local(local("2026-09-06 00:00")),
            LocalTime::Skipped {
                jump: utc("2026-09-06T04:00:00Z"),
                shifted: utc("2026-09-06T04:00:00Z"),
            }
        );
        // Fixed offsets: every local time occurs once.
        assert_eq!(
            z("+10:00").from_local(local("2026-10-04 02:15")),
            LocalTime::Single(utc("2026-10-03T16:15:00Z"))
        );
    }

    proptest! {
        #[test]
        fn fixed_offsets_round_trip(minutes in -840i32..=840) {
            let zone = Zone::fixed(minutes * 60).unwrap();
            prop_assert_eq!(zone.to_string().parse::<Zone>(), Ok(zone));
        }

        #[test]
        fn local_and_back(secs in 0i64..4_102_444_800, name in prop::sample::select(vec![
            "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago",
            "America/New_York", "Asia/Kolkata", "UTC", "+10:00", "-03:30",
        ])) {
            let zone: Zone = name.parse().unwrap();
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let l = zone.to_local(t);
            match zone.from_local(l) {
                LocalTime::Single(u) => prop_assert_eq!(u, t),
                LocalTime::Repeated { earlier, later } => {
                    prop_assert!(earlier < later && (earlier == t || later == t));
                }
                LocalTime::Skipped { .. } => prop_assert!(false, "{l} skipped but occurs at {t}"),
            }
            prop_assert_eq!(zone.offset_at(t).local_minus_utc() as i64, (l - t.naive_utc()).num_seconds());
        }

        #[test]
        fn skipped_times_lie_in_the_gap(secs in 0i64..4_102_444_800) {
            // A local time that does not occur: its jump is the first instant whose local time
            // is later, and the shifted instant's local time is later by the gap.
            let zone = z("Europe/London");
            let l = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
            if let LocalTime::Skipped { jump, shifted } = zone.from_local(l) {
                prop_assert!(zone.to_local(jump) > l);
                prop_assert!(zone.to_local(jump - TimeDelta::seconds(1)) < l);
                prop_assert!(shifted >= jump);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,16}") {
            let _ = Zone::parse(&s);
        }
    }

    #[test]
    fn dates_far_apart() {
        let london = z("Europe/London");
        let at = |y, m, d, h, min| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(h, min, 0))
                .unwrap()
        };
        assert!(london.from_local(at(1900, 6, 1, 12, 0)).is_single());
        assert_eq!(
            london.from_local(at(2037, 3, 29, 1, 30)),
            LocalTime::Skipped {
                jump: utc("2037-03-29T01:00:00Z"),
                shifted: utc("2037-03-29T01:30:00Z"),
            }
        );
        // Near the ends of the time line nothing panics.
        let _ = london.from_local(NaiveDateTime::MIN);
        let _ = london.from_local(NaiveDateTime::MAX);
        for zone in ["+14:00", "-14:00", "Pacific/Kiritimati", "Etc/GMT+12"] {
            for t in [NaiveDateTime::MIN, NaiveDateTime::MAX] {
                let _ = z(zone).from_local(t);
            }
            for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                let _ = z(zone).to_local(t);
                let _ = z(zone).offset_at(t);
                let _ = z(zone).standard_offset_at(t);
            }
        }
    }
}
