//! `bench dlms-decode`: decoding a DLMS/COSEM load-profile buffer (Profile Generic attribute 2:
//! an array of rows {clock, status, four registers}), ours beside the Python `dlms-cosem`
//! parser on the same bytes.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use metermaster_dlms::Data;
use metermaster_dlms::axdr::{ClockStatus, CosemDateTime};

/// The buffer of `days` days of 15-minute rows from 2026-01-01 00:00 UTC, as a meter sends it.
fn profile_buffer(days: u32) -> Result<Vec<u8>> {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.with_timezone(&Utc);
    let n = days as usize * 96;
    let mut rows = Vec::with_capacity(n);
    for k in 0..n {
        let t = start + Duration::minutes(15 * k as i64);
        let dt =
            CosemDateTime::from_utc(t, 0, ClockStatus(0)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let k = k as u32;
        rows.push(Data::Structure(vec![
            Data::octet_string(dt.to_bytes().to_vec()),
            Data::Unsigned(0),
            Data::DoubleLongUnsigned(1_000_000 + k * 250),
            Data::DoubleLongUnsigned(k * 3 % 997),
            Data::DoubleLongUnsigned(400_000 + k * 40),
            Data::DoubleLongUnsigned(k % 128),
        ]));
    }
    Ok(Data::Array(rows).encode())
}

/// Decodes a buffer into (UTC start, values) rows, as a reader does: A-XDR, then each row's
/// clock and register columns.
fn decode_rows(buf: &[u8]) -> Result<Vec<(DateTime<Utc>, [u64; 4])>> {
    let data = Data::decode(buf).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rows = data.as_elements().context("the buffer is not an array")?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let cols = row
            .as_elements()
            .with_context(|| format!("row {i} is not a structure"))?;
        let [clock, _status, a, b, c, d] = cols else {
            bail!("row {i} has {} columns, not 6", cols.len());
        };
        let bytes: [u8; 12] = clock
            .as_octet_string()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("row {i}: the clock column is not a date-time"))?;
        let t = CosemDateTime::from_bytes(bytes)
            .to_utc()
            .map_err(|e| anyhow::anyhow!("row {i}: {e}"))?;
        let v = |x: &Data| x.as_u64().with_context(|| format!("row {i}: not a number"));
        out.push((t, [v(a)?, v(b)?, v(c)?, v(d)?]));
    }
    Ok(out)
}

use crate::bench::{median, peer_python};

pub fn dlms_decode_bench(runs: u32, days: u32, json: bool) -> Result<()> {
    let buf = profile_buffer(days.max(1))?;
    let runs = runs.max(1);
    // Ours: the A-XDR decoding alone, and with the rows' timestamps and values.
    let mut axdr = Vec::new();
    let mut full = Vec::new();
    let mut rows = 0;
    // One untimed round first: the allocator's pools and the caches warm up.
    std::hint::black_box(decode_rows(&buf)?);
    for _ in 0..runs {
        let t = Instant::now();
        let d = Data::decode(&buf).map_err(|e| anyhow::anyhow!("{e}"))?;
        axdr.push(t.elapsed().as_secs_f64());
        std::hint::black_box(d);
        let t = Instant::now();
        let r = decode_rows(&buf)?;
        full.push(t.elapsed().as_secs_f64());
        rows = r.len();
        std::hint::black_box(r);
    }
    let (axdr_s, full_s) = (median(axdr), median(full));
    let mb = buf.len() as f64 / 1e6;
    // The Python dlms-cosem parser on the same bytes.
    let python = match peer_python("dlms_cosem.parsers") {
        None => None,
        Some(py) => {
            let dir = std::env::temp_dir().join(format!("mm-dlms-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let file = dir.join("buffer.bin");
            std::fs::write(&file, &buf)?;
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/dlms_decode_bench.py"
            );
            let py_runs = runs.min(5).to_string();
            let out = std::process::Command::new(&py)
                .arg(script)
                .arg(&file)
                .args([py_runs.as_str(), "15"])
                .output()
                .context("running scripts/dlms_decode_bench.py")?;
            let _ = std::fs::remove_dir_all(&dir);
            if !out.status.success() {
                bail!(
                    "dlms_decode_bench.py failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            if v["rows"].as_u64() != Some(rows as u64) {
                bail!("dlms-cosem read {} rows, we read {rows}", v["rows"]);
            }
            v["median_seconds"].as_f64()
        }
    };
    if json {
        let mut o = serde_json::json!({
            "bytes": buf.len(),
            "rows": rows,
            "axdr_seconds": axdr_s,
            "axdr_mb_per_second": mb / axdr_s,
            "rows_seconds": full_s,
            "mb_per_second": mb / full_s,
        });
        if let Some(p) = python {
            o["dlms_cosem_seconds"] = p.into();
            o["dlms_cosem_mb_per_second"] = (mb / p).into();
            o["ratio"] = (p / full_s).into();
        }
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        println!(
            "profile buffer: {rows} rows, {:.2} MB (median of {runs})",
            mb
        );
        println!(
            "  A-XDR decode           {:8.3} ms  {:8.1} MB/s",
            axdr_s * 1e3,
            mb / axdr_s
        );
        println!(
            "  rows (times, values)   {:8.3} ms  {:8.1} MB/s",
            full_s * 1e3,
            mb / full_s
        );
        match python {
            Some(p) => println!(
                "  Python dlms-cosem      {:8.1} ms  {:8.2} MB/s  ({:.0}x slower)",
                p * 1e3,
                mb / p,
                p / full_s
            ),
            None => println!(
                "  Python dlms-cosem: not found (install it into .venv-peers, or set METERMASTER_PEER_PYTHON)"
            ),
        }
    }
    Ok(())
}

/// Wire time of `bytes` characters at `baud`, 10 bits each (start, 8 data, stop), in seconds.
fn wire_seconds(bytes: u64, baud: u32) -> f64 {
    bytes as f64 * 10.0 / f64::from(baud)
}

/// Bytes released per step by [`pace`]: 16 characters (17 ms at 9600 Bd).
const PACE_CHUNK: usize = 16;

/// One direction of a serial line: what `src` yields reaches `dst` no faster than `baud`
/// carries it (10 bits a character). The line stays busy from one chunk to the next, so bytes
/// written while it is busy queue behind them, as on a UART; deadlines are absolute, so timer
/// lateness does not add up.
async fn pace<R, W>(mut src: R, mut dst: W, baud: u32) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut free_at = tokio::time::Instant::now();
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            return dst.shutdown().await;
        }
        free_at = free_at.max(tokio::time::Instant::now());
        for c in buf[..n].chunks(PACE_CHUNK) {
            free_at += std::time::Duration::from_secs_f64(wire_seconds(c.len() as u64, baud));
            tokio::time::sleep_until(free_at).await;
            dst.write_all(c).await?;
            dst.flush().await?;
        }
    }
}

/// A full-duplex serial line at `baud` between two in-process ends (client end, meter end).
fn throttled_line(baud: u32) -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (client, near) = tokio::io::duplex(1 << 16);
    let (far, meter) = tokio::io::duplex(1 << 16);
    let (near_r, near_w) = tokio::io::split(near);
    let (far_r, far_w) = tokio::io::split(far);
    tokio::spawn(pace(near_r, far_w, baud));
    tokio::spawn(pace(far_r, near_w, baud));
    (client, meter)
}

/// Whether a run meets the targets: under `limit_s` and within `max_ratio` of the
/// bytes' wire time.
fn meets(secs: f64, wire_s: f64, limit_s: f64, max_ratio: f64) -> (bool, bool) {
    (secs < limit_s, secs <= wire_s * max_ratio)
}

use metermaster_model::well_known::{CLOCK, LOAD_PROFILE_1 as LOAD_PROFILE};

/// What one `bench dlms-wire` run measured.
struct WireRun {
    secs: f64,
    rows: usize,
    columns: usize,
    /// The A-XDR encoding of the buffer alone (what no framing can avoid sending).
    payload: usize,
    stats: metermaster_dlms::client::LinkStats,
}

/// SNRM, AARQ, the clock, the load profile of the 24 hours before it by range, RLRQ, DISC.
async fn read_day_over_hdlc(
    meter: metermaster_sim::dlms::DlmsMeter,
    physical: u16,
    baud: u32,
    max_info: u16,
) -> Result<WireRun> {
    use metermaster_dlms::apdu::{AttributeDescriptor, CaptureObjectDefinition, RangeDescriptor};
    use metermaster_dlms::client::{DlmsClient, LinkOptions, SessionOptions, Transport};
    use metermaster_dlms::hdlc::HdlcParameters;
    use metermaster_sim::dlms::{DlmsServeOptions, PUBLIC_CLIENT, serve_dlms_connection};

    let (client_end, meter_end) = throttled_line(baud);
    tokio::spawn(serve_dlms_connection(
        meter_end,
        meter,
        DlmsServeOptions {
            transport: metermaster_sim::dlms::Transport::Hdlc,
            ..DlmsServeOptions::default()
        },
    ));
    let hdlc_parameters = (max_info > 0).then_some(HdlcParameters {
        max_info_transmit: max_info,
        max_info_receive: max_info,
        window_transmit: 1,
        window_receive: 1,
    });
    let opts = SessionOptions {
        link: LinkOptions {
            transport: Transport::Hdlc,
            client_sap: PUBLIC_CLIENT as u8,
            server_logical: 1,
            server_physical: Some(physical),
            hdlc_parameters,
            response_timeout: std::time::Duration::from_secs(10),
            ..LinkOptions::default()
        },
        ..SessionOptions::default()
    };
    let t = Instant::now();
    let mut c = DlmsClient::connect(client_end, opts).await?;
    c.associate().await?;
    let now = c
        .get(AttributeDescriptor::new(8, CLOCK, 2), None)
        .await?
        .as_octet_string()
        .and_then(|b| <[u8; 12]>::try_from(b).ok())
        .map(CosemDateTime::from_bytes)
        .context("the clock is not a date-time")?;
    let local = now.to_naive_local().map_err(|e| anyhow::anyhow!("{e}"))?;
    let from =
        CosemDateTime::from_naive_local(local - Duration::hours(24), now.deviation(), now.status)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let range = RangeDescriptor {
        restricting_object: CaptureObjectDefinition {
            class_id: 8,
            logical_name: CLOCK,
            attribute_index: 2,
            data_index: 0,
        },
        from_value: Data::octet_string(from.to_bytes().to_vec()),
        to_value: Data::octet_string(now.to_bytes().to_vec()),
        selected_values: Vec::new(),
    };
    let buffer = c
        .get(
            AttributeDescriptor::new(7, LOAD_PROFILE, 2),
            Some(range.into()),
        )
        .await?;
    c.finish().await?;
    let secs = t.elapsed().as_secs_f64();
    let payload = buffer.encode().len();
    let rows = buffer.as_elements().context("the buffer is not an array")?;
    let columns = rows
        .first()
        .and_then(|r| r.as_elements())
        .map_or(0, |r| r.len());
    Ok(WireRun {
        secs,
        rows: rows.len(),
        columns,
        payload,
        stats: c.stats(),
    })
}

/// `bench dlms-wire`: one day of profile over HDLC through a line throttled to `baud`.
pub async fn dlms_wire_bench(
    baud: u32,
    max_info: u16,
    compress: bool,
    runs: u32,
    json: bool,
) -> Result<()> {
    if baud == 0 {
        bail!("--baud must be above 0");
    }
    let mut args = crate::demo::fleet_args(1, crate::sim::ModelArg::A1140, 10_000_001);
    args.speed = 0.0;
    // Clock at 23:59:30: the 24 hours before it are one whole day of 96 intervals.
    args.start = Some("2024-03-05T23:59:30Z".into());
    args.compress_profile = compress;
    let fleet = crate::sim::build_fleet(&args)?;
    let meter = metermaster_sim::dlms::DlmsMeter::new(fleet.meters[0].clone());
    let physical = metermaster_sim::dlms::physical_address("10000001");
    let mut secs = Vec::new();
    let mut ratios = Vec::new();
    let mut wires = Vec::new();
    let mut last = None;
    for run in 0..runs.max(1) {
        let r = read_day_over_hdlc(meter.clone(), physical, baud, max_info).await?;
        let s = r.stats;
        let wire = wire_seconds(s.bytes_sent + s.bytes_received, baud);
        if !json {
            println!(
                "run {}: {:.3} s; wire time {wire:.3} s; ratio {:.3}; {} exchanges, {} bytes out, {} in, {} rows of {} columns ({} bytes of buffer: {:.3} s on the wire alone)",
                run + 1,
                r.secs,
                r.secs / wire,
                s.exchanges,
                s.bytes_sent,
                s.bytes_received,
                r.rows,
                r.columns,
                r.payload,
                wire_seconds(r.payload as u64, baud)
            );
        }
        secs.push(r.secs);
        ratios.push(r.secs / wire);
        wires.push(wire);
        last = Some((r, wire));
    }
    let (r, _) = last.context("no run")?;
    let (secs, ratio, wire) = (median(secs), median(ratios), median(wires));
    let (under_4s, within_1_2) = meets(secs, wire, 4.0, 1.2);
    if json {
        let o = serde_json::json!({
            "baud": baud,
            "max_info_proposed": max_info,
            "runs": runs.max(1),
            "median_seconds": secs,
            "bytes_sent": r.stats.bytes_sent,
            "bytes_received": r.stats.bytes_received,
            "exchanges": r.stats.exchanges,
            "wire_seconds": wire,
            "profile_buffer_bytes": r.payload,
            "profile_buffer_wire_seconds": wire_seconds(r.payload as u64, baud),
            "median_ratio": ratio,
            "rows": r.rows,
            "under_4_s": under_4s,
            "within_1_2_wire": within_1_2,
        });
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        println!(
            "dlms-wire: {baud} Bd, HDLC, public client, SNRM {}: median {secs:.3} s, median ratio to the wire time {ratio:.3}; < 4 s: {}; <= 1.2 x wire: {}",
            if max_info == 0 {
                "without parameters".to_string()
            } else {
                format!("proposing {max_info}-byte information fields")
            },
            if under_4s { "yes" } else { "NO" },
            if within_1_2 { "yes" } else { "NO" },
        );
    }
    Ok(())
}

/// `bench dlms-fleet`: `meters` simulated meters, one loopback port each (TCP wrapper), all
/// read at once by the reader (public client: registers, clock, one day of profile).
pub async fn dlms_fleet_bench(meters: u32, runs: u32, json: bool) -> Result<()> {
    use metermaster_dlms::client::{
        DlmsClient, LinkOptions, ReadOptions, SessionOptions, Transport, read_meter,
    };
    use metermaster_sim::dlms::{DlmsMeter, DlmsServeOptions, PUBLIC_CLIENT, serve_dlms};

    let mut args = crate::demo::fleet_args(meters, crate::sim::ModelArg::A1140, 10_000_001);
    args.speed = 0.0;
    args.start = Some("2024-03-05T23:59:30Z".into());
    let fleet = crate::sim::build_fleet(&args)?;
    let mut pairs = Vec::with_capacity(fleet.meters.len());
    let mut addrs = Vec::with_capacity(fleet.meters.len());
    for m in &fleet.meters {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port per meter")?;
        addrs.push(l.local_addr()?);
        pairs.push((l, DlmsMeter::new(m.clone())));
    }
    tokio::spawn(serve_dlms(
        pairs,
        DlmsServeOptions::default(),
        std::future::pending(),
    ));
    let read = ReadOptions {
        profile_days: 1,
        registers: true,
        demand: false,
        instantaneous: false,
        history: false,
        events: false,
        details: false,
        ..ReadOptions::default()
    };
    let session = SessionOptions {
        link: LinkOptions {
            transport: Transport::Wrapper,
            client_sap: PUBLIC_CLIENT as u8,
            response_timeout: std::time::Duration::from_secs(30),
            ..LinkOptions::default()
        },
        ..SessionOptions::default()
    };
    let mut times = Vec::new();
    let mut summary = (0usize, 0usize, 0usize);
    for run in 0..runs.max(1) {
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for a in &addrs {
            let (a, read, session) = (*a, read.clone(), session.clone());
            tasks.spawn(async move {
                let stream = tokio::net::TcpStream::connect(a).await?;
                stream.set_nodelay(true)?;
                let mut c = DlmsClient::connect(stream, session).await?;
                let r = read_meter(&mut c, &read).await?;
                anyhow::Ok((
                    r.registers.len(),
                    r.load_profile.as_ref().map_or(0, |p| p.intervals.len()),
                ))
            });
        }
        let (mut ok, mut registers, mut intervals) = (0, 0, 0);
        let mut first_error = None;
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ok((reg, iv))) => {
                    ok += 1;
                    registers += reg;
                    intervals += iv;
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e.to_string());
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        if !json {
            println!(
                "run {}: {meters} meters in {secs:.3} s ({} failed, {registers} registers, {intervals} intervals)",
                run + 1,
                addrs.len() - ok
            );
        }
        if let Some(e) = first_error {
            bail!("{} of {meters} meters failed; first: {e}", addrs.len() - ok);
        }
        times.push(secs);
        summary = (ok, registers, intervals);
    }
    let secs = median(times);
    if json {
        let o = serde_json::json!({
            "meters": meters,
            "runs": runs.max(1),
            "median_seconds": secs,
            "succeeded": summary.0,
            "registers": summary.1,
            "intervals": summary.2,
            "under_10_s": secs < 10.0,
        });
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        println!(
            "dlms-fleet: {meters} meters over the TCP wrapper (one port each), registers + clock + one day of profile: median {secs:.3} s, all {} succeeded; < 10 s: {}",
            summary.0,
            if secs < 10.0 { "yes" } else { "NO" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_round_trips_to_its_rows() {
        let buf = profile_buffer(2).unwrap();
        let rows = decode_rows(&buf).unwrap();
        assert_eq!(rows.len(), 192);
        assert_eq!(rows[1].0.to_rfc3339(), "2026-01-01T00:15:00+00:00");
        assert_eq!(rows[191].1, [1_047_750, 573, 407_640, 63]);
        assert!(decode_rows(&buf[..buf.len() - 1]).is_err());
    }
    #[test]
    fn wire_time_is_ten_bits_a_character() {
        assert!((wire_seconds(960, 9600) - 1.0).abs() < 1e-12);
        assert!((wire_seconds(4533, 9600) - 4.721_875).abs() < 1e-9);
        assert_eq!(wire_seconds(0, 300), 0.0);
    }

    #[test]
    fn targets_are_strict_below_the_limit_and_inclusive_on_the_ratio() {
        assert_eq!(meets(3.9, 3.5, 4.0, 1.2), (true, true));
        assert_eq!(meets(4.0, 3.5, 4.0, 1.2), (false, true));
        assert_eq!(meets(2.4, 2.0, 4.0, 1.2), (true, true));
        assert_eq!(meets(2.41, 2.0, 4.0, 1.2), (true, false));
    }

    #[tokio::test]
    async fn throttled_line_carries_every_byte_both_ways_in_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, mut meter) = throttled_line(2_000_000);
        let out: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        client.write_all(&out).await.unwrap();
        let mut got = vec![0u8; out.len()];
        meter.read_exact(&mut got).await.unwrap();
        assert_eq!(got, out);
        meter.write_all(b"answer").await.unwrap();
        let mut back = [0u8; 6];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"answer");
        // Closing one end closes the other after the bytes in flight.
        drop(client);
        assert_eq!(meter.read(&mut back).await.unwrap(), 0);
    }
}
