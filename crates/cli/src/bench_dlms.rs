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

/// The Python with dlms-cosem: $METERMASTER_PEER_PYTHON, else the workspace's .venv-peers.
fn peer_python() -> Option<String> {
    let py = std::env::var("METERMASTER_PEER_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-peers/bin/python").to_string()
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", "import dlms_cosem.parsers"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

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
    let python = match peer_python() {
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
}
