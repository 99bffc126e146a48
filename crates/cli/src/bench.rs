//! `metermaster bench ...`: built-in benchmarks that print their figures.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use metermaster_flag::client::{ClientOptions, FlagClient};
use metermaster_flag::reader::{ReadOptions, read_meter};
use metermaster_sim::ServeOptions;

use crate::demo::{fleet_args, read_all, start_fleet};
use crate::sim::ModelArg;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Many simulated meters read concurrently over loopback TCP (registers, profile, events).
    Fleet {
        #[arg(long, default_value_t = 1000)]
        meters: u32,
        #[arg(long, default_value_t = 1)]
        days: u16,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// One meter's registers and one day of 4-channel 15-minute profile through a throttled
    /// link, against the physical limit of the wire.
    Wire {
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        /// Announce the 20 ms reaction time instead of 200 ms.
        #[arg(long)]
        fast_reaction: bool,
        /// Read packet by packet (R1) instead of the RD stream.
        #[arg(long)]
        no_stream: bool,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Importing an interval CSV into the store end to end, and reading one meter-year back.
    Import {
        /// Meters in the generated file (each with one year of 15-minute data, one channel).
        #[arg(long, default_value_t = 20)]
        meters: u32,
        /// The store to import into (default: a fresh SQLite file in a temporary folder).
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Importing many .RES reading files (real readings of simulated meters) in one `import`.
    /// Reads answered while a large import runs: one meter-year read back again and again
    /// during the import of METERS meter-years of 15-minute values (700,800 intervals for 20),
    /// against the same reads with nothing else running.
    ReadDuringImport {
        #[arg(long, default_value_t = 20)]
        meters: u32,
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    ImportRes {
        /// How many files (each one meter's reading: identity, clock, registers, maximum
        /// demands, events, programming log, one day of 4-channel 15-minute profile).
        #[arg(long, default_value_t = 10_000)]
        files: u32,
        /// The store to import into (default: a fresh SQLite file in a temporary folder).
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Evaluating a TOU scheme (examples/schemes/economy7.toml) over a year of 15-minute data:
    /// energy per rate and maximum demand per billing period.
    Tariff {
        #[arg(long, default_value_t = 15)]
        runs: u32,
        /// Years of data (each evaluated as one profile).
        #[arg(long, default_value_t = 1)]
        years: u32,
        /// Print the figures as JSON (`intervals_per_second`, ...).
        #[arg(long)]
        json: bool,
    },
    /// Decoding speed of data-readout telegrams and load-profile streams.
    Parse {
        #[arg(long, default_value_t = 7)]
        runs: u32,
    },
    /// Decoding a DLMS load-profile buffer (4 channels, 15-minute rows), beside the Python
    /// dlms-cosem parser on the same bytes when the peer Python has it.
    DlmsDecode {
        #[arg(long, default_value_t = 7)]
        runs: u32,
        /// Days of rows in the buffer.
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long)]
        json: bool,
    },
    /// One simulated meter's DLMS face over HDLC through a link throttled to a baud rate:
    /// associate, clock, one day of 4-channel 15-minute profile by range, release; against the
    /// wire time of the bytes.
    DlmsWire {
        #[arg(long, default_value_t = 9600)]
        baud: u32,
        /// The HDLC information field length the client proposes in the SNRM (0: no proposal,
        /// the 128-byte default applies).
        #[arg(long, default_value_t = 2030)]
        max_info: u16,
        /// The meter sends the clock in every profile row (no buffer compression).
        #[arg(long)]
        no_compress: bool,
        #[arg(long, default_value_t = 3)]
        runs: u32,
        #[arg(long)]
        json: bool,
    },
    /// Many simulated DLMS meters (one loopback port each, TCP wrapper) read concurrently:
    /// registers, clock and one day of profile.
    DlmsFleet {
        #[arg(long, default_value_t = 1000)]
        meters: u32,
        #[arg(long, default_value_t = 3)]
        runs: u32,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The peer Python ($METERMASTER_PEER_PYTHON, else the workspace's .venv-peers) when it can
/// `import` these modules (a benchmark then runs the Python side beside ours).
pub(crate) fn peer_python(modules: &str) -> Option<String> {
    let py = std::env::var("METERMASTER_PEER_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-peers/bin/python").to_string()
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

/// Peak resident memory of this process, from /proc (Linux), in MB.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Fleet { meters, days, runs } => {
            let mut args = fleet_args(meters, ModelArg::A1140, 10_000_001);
            args.speed = 0.0;
            let addr = start_fleet(&args, ServeOptions::default()).await?;
            let opts = ReadOptions {
                profile_days: days,
                billing_sets: 0,
                instantaneous: false,
                ..ReadOptions::default()
            };
            let mut times = Vec::new();
            for run in 0..runs.max(1) {
                let t = Instant::now();
                let res = read_all(
                    addr,
                    (0..meters).map(|i| 10_000_001 + u64::from(i)).collect(),
                    opts.clone(),
                )
                .await;
                let secs = t.elapsed().as_secs_f64();
                let failed = res.iter().filter(|r| r.1.is_err()).count();
                let intervals: usize = res
                    .iter()
                    .filter_map(|r| r.1.as_ref().ok())
                    .map(|(r, _)| r.load_profile.as_ref().map_or(0, |p| p.intervals.len()))
                    .sum();
                println!(
                    "run {}: {meters} meters in {secs:.3} s ({failed} failed, {intervals} intervals)",
                    run + 1
                );
                if failed > 0 {
                    if let Some((s, Err(e))) = res.iter().find(|r| r.1.is_err()) {
                        bail!("meter {s} failed: {e}");
                    }
                }
                times.push(secs);
            }
            println!(
                "fleet: {meters} meters, {days} day(s) of profile + registers + events: median {:.3} s; peak RSS (simulator and reader in one process) {:.1} MB",
                median(times),
                peak_rss_mb().unwrap_or(f64::NAN)
            );
        }
        BenchCommand::Wire {
            baud,
            fast_reaction,
            no_stream,
            runs,
        } => {
            let mut args = fleet_args(1, ModelArg::A1140, 10_000_001);
            args.speed = 0.0;
            args.fast_reaction = fast_reaction;
            // Start at 23:59 so that "one day" is a whole day of 96 intervals.
            args.start = Some("2024-03-05T23:59:30Z".into());
            let addr = start_fleet(
                &args,
                ServeOptions {
                    baud: Some(baud),
                    ..ServeOptions::default()
                },
            )
            .await?;
            let reaction = if fast_reaction { 0.020 } else { 0.200 };
            // Identity, clock, cumulative and TOU registers, one day of profile.
            let opts = ReadOptions {
                address: "10000001".into(),
                profile_days: 1,
                billing_sets: 0,
                demand: false,
                details: false,
                programming: false,
                events: false,
                instantaneous: false,
                ..ReadOptions::default()
            };
            let mut ratios = Vec::new();
            let mut totals = Vec::new();
            for run in 0..runs.max(1) {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let mut c = FlagClient::attach(
                    stream,
                    ClientOptions {
                        use_rd: !no_stream,
                        response_timeout: Duration::from_secs(5),
                        ..ClientOptions::default()
                    },
                );
                let t = Instant::now();
                let r = read_meter(&mut c, &opts).await?;
                let secs = t.elapsed().as_secs_f64();
                let s = c.stats;
                // Every byte both ways at 10 bits per character, plus one reaction time per
                // exchange (the final B0 has no answer).
                let limit = (s.bytes_sent + s.bytes_received) as f64 * 10.0 / f64::from(baud)
                    + f64::from(s.exchanges) * reaction;
                let n = r.load_profile.as_ref().map_or(0, |p| p.intervals.len());
                println!(
                    "run {}: {secs:.3} s; physical limit {limit:.3} s; ratio {:.3}; {} exchanges, {} bytes out, {} in, {n} intervals",
                    run + 1,
                    secs / limit,
                    s.exchanges,
                    s.bytes_sent,
                    s.bytes_received
                );
                ratios.push(secs / limit);
                totals.push(secs);
            }
            println!(
                "wire: {baud} Bd, reaction {:.0} ms, {}: median {:.3} s, median ratio to the physical limit {:.3}",
                reaction * 1000.0,
                if no_stream {
                    "R1 packets"
                } else {
                    "RD stream for the profile"
                },
                median(totals),
                median(ratios)
            );
        }
        BenchCommand::Parse { runs } => parse_bench(runs)?,
        BenchCommand::DlmsDecode { runs, days, json } => {
            crate::bench_dlms::dlms_decode_bench(runs, days, json)?
        }
        BenchCommand::DlmsWire {
            baud,
            max_info,
            no_compress,
            runs,
            json,
        } => crate::bench_dlms::dlms_wire_bench(baud, max_info, !no_compress, runs, json).await?,
        BenchCommand::DlmsFleet { meters, runs, json } => {
            crate::bench_dlms::dlms_fleet_bench(meters, runs, json).await?
        }
        BenchCommand::Tariff { runs, years, json } => tariff_bench(runs, years, json)?,
        BenchCommand::ReadDuringImport {
            meters,
            database,
            runs,
        } => read_during_import_bench(meters, database, runs).await?,
        BenchCommand::Import {
            meters,
            database,
            runs,
        } => import_bench(meters, database, runs).await?,
        BenchCommand::ImportRes {
            files,
            database,
            runs,
        } => import_res_bench(files, database, runs).await?,
    }
    Ok(())
}

/// MB/s of `parse` (which returns the number of lines it read) on `telegram`, over 300 ms.
fn telegram_rate(telegram: &[u8], mut parse: impl FnMut() -> Result<usize>) -> Result<f64> {
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut lines = 0usize;
    while t.elapsed() < Duration::from_millis(300) {
        lines += parse()?;
        bytes += telegram.len();
    }
    std::hint::black_box(lines);
    Ok(bytes as f64 / t.elapsed().as_secs_f64() / 1e6)
}

fn parse_bench(runs: u32) -> Result<()> {
    use metermaster_flag::ids::MeterModel;
    use metermaster_flag::profile::{Record, decode_load_profile, encode_records};
    use metermaster_flag::readout::{
        DataLine, DataValue, format_data_message, parse_data_message, parse_data_message_ref,
    };
    // A profile stream: 365 days of 4-channel 15-minute records.
    let day0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| anyhow::anyhow!("date"))?;
    let mut recs = Vec::new();
    for d in 0..365 {
        recs.push(Record::NewDay {
            time: day0 + chrono::Duration::days(d),
            mask: 0x0027,
            period: 7,
        });
        for k in 0..96u64 {
            recs.push(Record::Data {
                status: 0,
                ext_status: None,
                values: vec![1000 * (k + 1), 2000 * k, 300_000 + k, 0],
            });
        }
    }
    let stream = encode_records(&recs, 64);
    // A readout telegram of 2000 lines.
    let lines: Vec<DataLine> = (0..2000)
        .map(|i| DataLine {
            address: format!("1.8.{}", i % 64),
            values: vec![DataValue {
                value: format!("{:06}.{:03}", i * 7, i % 1000),
                unit: Some("kWh".into()),
            }],
        })
        .collect();
    let telegram = format_data_message(&lines);
    let mut p_rates = Vec::new();
    let mut t_rates = Vec::new();
    let mut o_rates = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let mut n = 0;
        let mut bytes = 0usize;
        while t.elapsed() < Duration::from_millis(300) {
            let lp = decode_load_profile(&stream, MeterModel::A1140, 0)?;
            n += lp.intervals.len();
            bytes += stream.len();
        }
        p_rates.push(bytes as f64 / t.elapsed().as_secs_f64() / 1e6);
        // The zero-copy decoder, then the owned one (the same parse, copied into Strings).
        t_rates.push(telegram_rate(&telegram, || {
            Ok(parse_data_message_ref(&telegram)?.lines().len())
        })?);
        o_rates.push(telegram_rate(&telegram, || {
            Ok(parse_data_message(&telegram)?.lines.len())
        })?);
        std::hint::black_box(n);
    }
    println!(
        "parse: profile stream ({} bytes, 35040 intervals) to intervals: median {:.0} MB/s; readout telegram ({} bytes, 2000 lines): zero-copy median {:.0} MB/s, owned median {:.0} MB/s",
        stream.len(),
        median(p_rates),
        telegram.len(),
        median(t_rates),
        median(o_rates)
    );
    Ok(())
}

async fn import_bench(meters: u32, database: Option<String>, runs: u32) -> Result<()> {
    use metermaster_model::{IntervalRow, IntervalStatus, ObisCode, Quality, Unit};
    use metermaster_store::Store;
    let dir = std::env::temp_dir().join(format!("mm-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let t0 =
        chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")?.with_timezone(&chrono::Utc);
    let per_meter = 365 * 96;
    let mut rows = Vec::with_capacity(meters as usize * per_meter);
    for m in 0..meters {
        for k in 0..per_meter {
            rows.push(IntervalRow {
                meter: format!("{}", 30_000_001 + m).into(),
                channel: ObisCode::elec(1, 29, 0),
                start: t0 + chrono::Duration::minutes(15 * k as i64),
                seconds: 900,
                value: ((k * 7919 + m as usize * 104_729) % 5000) as i64,
                scale: 0,
                unit: Unit::WattHour,
                quality: Quality::Measured,
                status: IntervalStatus::EMPTY,
            });
        }
    }
    let file = dir.join("bench.csv");
    let mut buf = Vec::new();
    metermaster_res::csv::write_csv(&mut buf, &rows)?;
    std::fs::write(&file, &buf)?;
    let n = rows.len();
    drop(rows);
    let mut rates = Vec::new();
    let mut reads = Vec::new();
    let mut base_rates = Vec::new();
    for run in 0..runs.max(1) {
        let (store, schema) = bench_store(&dir, &database, run).await?;
        let t = Instant::now();
        let report = crate::files::import_one(&store, &file, &Default::default()).await;
        let secs = t.elapsed().as_secs_f64();
        if let Some(e) = report.error {
            bail!("import failed: {e}");
        }
        if report.intervals_changed != n as u64 {
            bail!(
                "import wrote {} interval values, expected {n}",
                report.intervals_changed
            );
        }
        // One meter-year back out: the first read (a reader connection opened for it), then
        // the median of 20 more on the pooled connection.
        let mut times = Vec::new();
        let mut s = 0;
        for _ in 0..21 {
            let t = Instant::now();
            s = store
                .series(
                    "30000001",
                    ObisCode::elec(1, 29, 0),
                    t0,
                    t0 + chrono::Duration::days(365),
                )
                .await?
                .map_or(0, |s| s.points.len());
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let cold_ms = times.remove(0);
        let read_ms = median(times);
        drop(store);
        // The baseline: the same file as one row per interval, by the database's own tool.
        let base = match &database {
            None => {
                let db = dir.join(format!("baseline{run}.db"));
                let t = Instant::now();
                let out = std::process::Command::new("sqlite3")
                    .arg(&db)
                    .arg("CREATE TABLE t (meter TEXT, channel TEXT, start TEXT, end TEXT, value TEXT, unit TEXT, quality TEXT)")
                    .arg(format!(".import --csv --skip 1 {} t", file.display()))
                    .output();
                let secs = t.elapsed().as_secs_f64();
                match out {
                    Ok(o) if o.status.success() => Some(("sqlite3 .import", secs)),
                    Ok(o) => bail!("sqlite3: {}", String::from_utf8_lossy(&o.stderr).trim()),
                    Err(e) => {
                        println!("(no baseline: sqlite3 not runnable: {e})");
                        None
                    }
                }
            }
            Some(url) => {
                let schema = schema.clone().unwrap_or_default();
                let t = Instant::now();
                psql(
                    url,
                    &[
                        &format!(
                            "SET search_path TO {schema}; CREATE TABLE t (meter TEXT, channel TEXT, start TIMESTAMPTZ, \"end\" TIMESTAMPTZ, value NUMERIC, unit TEXT, quality TEXT)"
                        ),
                        &format!("\\copy {schema}.t FROM '{}' CSV HEADER", file.display()),
                    ],
                )?;
                Some(("psql \\copy", t.elapsed().as_secs_f64()))
            }
        };
        if let (Some(url), Some(schema)) = (&database, &schema) {
            psql(url, &[&format!("DROP SCHEMA {schema} CASCADE")])?;
        }
        let rate = n as f64 / secs / 1e6;
        let base_text = match base {
            Some((tool, b)) => {
                base_rates.push(n as f64 / b / 1e6);
                format!(
                    "; {tool}: {b:.3} s = {:.2} M/s (ours {:.2} x)",
                    n as f64 / b / 1e6,
                    b / secs
                )
            }
            None => String::new(),
        };
        println!(
            "run {}: {n} intervals ({} MB of CSV) imported in {secs:.3} s = {rate:.2} M intervals/s{base_text}; one meter-year read back ({s} intervals) in {read_ms:.2} ms (first read {cold_ms:.2} ms)",
            run + 1,
            buf.len() / 1_000_000,
        );
        rates.push(rate);
        reads.push(read_ms);
    }
    let base = if base_rates.is_empty() {
        String::new()
    } else {
        format!("; baseline tool: median {:.2} M/s", median(base_rates))
    };
    println!(
        "import: median {:.2} M intervals/s end to end{base}; read-back of one meter-year: median {:.2} ms",
        median(rates),
        median(reads)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The `q` quantile (0..=1) of a set of figures, nearest rank.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[k - 1]
}

/// One meter-year of 15-minute values for meter `serial`.
fn meter_year(
    serial: &str,
    t0: chrono::DateTime<chrono::Utc>,
    salt: usize,
) -> Vec<metermaster_model::IntervalRow> {
    use metermaster_model::{IntervalRow, IntervalStatus, ObisCode, Quality, Unit};
    let meter: std::sync::Arc<str> = serial.into();
    (0..365 * 96)
        .map(|k| IntervalRow {
            meter: meter.clone(),
            channel: ObisCode::elec(1, 29, 0),
            start: t0 + chrono::Duration::minutes(15 * k as i64),
            seconds: 900,
            value: ((k * 7919 + salt * 104_729) % 5000) as i64,
            scale: 0,
            unit: Unit::WattHour,
            quality: Quality::Measured,
            status: IntervalStatus::EMPTY,
        })
        .collect()
}

async fn read_during_import_bench(meters: u32, database: Option<String>, runs: u32) -> Result<()> {
    use metermaster_model::ObisCode;
    use metermaster_store::Store;
    let dir = std::env::temp_dir().join(format!("mm-bench-rdi-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let t0 =
        chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")?.with_timezone(&chrono::Utc);
    let mut rows = Vec::new();
    for m in 0..meters {
        rows.extend(meter_year(&format!("{}", 30_000_001 + m), t0, m as usize));
    }
    let n = rows.len();
    let file = dir.join("bench.csv");
    let mut buf = Vec::new();
    metermaster_res::csv::write_csv(&mut buf, &rows)?;
    std::fs::write(&file, &buf)?;
    drop(rows);
    let year = chrono::Duration::days(365);
    let (mut idle_med, mut busy_med, mut busy_p99, mut idle_p99) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs.max(1) {
        let (store, schema) = bench_store(&dir, &database, run).await?;
        let store = std::sync::Arc::new(store);
        // The meter-year that is read back, stored before.
        store
            .write(metermaster_store::Batch {
                intervals: meter_year("40000001", t0, 99),
                ..Default::default()
            })
            .await?;
        let read_once = {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    let t = Instant::now();
                    let got = store
                        .series("40000001", ObisCode::elec(1, 29, 0), t0, t0 + year)
                        .await?
                        .map_or(0, |s| s.points.len());
                    if got != 365 * 96 {
                        bail!("read back {got} intervals, expected {}", 365 * 96);
                    }
                    Ok::<f64, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
                }
            }
        };
        // Baseline in the same run: the reads with nothing else going on.
        let mut idle = Vec::new();
        for _ in 0..50 {
            idle.push(read_once().await?);
        }
        // The same reads while the import runs.
        let importer = {
            let store = store.clone();
            let file = file.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let r = crate::files::import_one(&store, &file, &Default::default()).await;
                (r, t.elapsed().as_secs_f64())
            })
        };
        let mut busy = Vec::new();
        while !importer.is_finished() {
            busy.push(read_once().await?);
        }
        let (report, import_s) = importer.await?;
        if let Some(e) = report.error {
            bail!("import failed: {e}");
        }
        if report.intervals_changed != n as u64 {
            bail!(
                "import wrote {} interval values, expected {n}",
                report.intervals_changed
            );
        }
        drop(store);
        if let (Some(url), Some(schema)) = (&database, &schema) {
            psql(url, &[&format!("DROP SCHEMA {schema} CASCADE")])?;
        }
        if busy.len() < 5 {
            bail!(
                "only {} reads finished during the {import_s:.2} s import: too few to measure",
                busy.len()
            );
        }
        let (im, ip) = (median(idle.clone()), quantile(idle, 0.99));
        let (bm, bp) = (median(busy.clone()), quantile(busy.clone(), 0.99));
        println!(
            "run {}: import of {n} intervals in {import_s:.2} s; {} meter-year reads during it: median {bm:.2} ms, p99 {bp:.2} ms; idle: median {im:.2} ms, p99 {ip:.2} ms (median ratio {:.2} x)",
            run + 1,
            busy.len(),
            bm / im
        );
        idle_med.push(im);
        idle_p99.push(ip);
        busy_med.push(bm);
        busy_p99.push(bp);
    }
    let (im, bm) = (median(idle_med), median(busy_med));
    println!(
        "read-during-import ({}): meter-year read during the import: median {bm:.2} ms, p99 {:.2} ms; with nothing else running: median {im:.2} ms, p99 {:.2} ms; ratio {:.2} x",
        if database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        median(busy_p99),
        median(idle_p99),
        bm / im
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A store for one benchmark run: a fresh SQLite file, or a fresh schema of the PostgreSQL
/// database given (dropped afterwards with `psql`).
async fn bench_store(
    dir: &std::path::Path,
    database: &Option<String>,
    run: u32,
) -> Result<(metermaster_store::AnyStore, Option<String>)> {
    match database {
        None => {
            let url = format!("sqlite:{}", dir.join(format!("run{run}.db")).display());
            Ok((metermaster_store::AnyStore::open(&url).await?, None))
        }
        Some(url) => {
            let schema = format!("mm_bench_{}_{run}", std::process::id());
            let s = metermaster_store::PgStore::connect_in_schema(url, Some(&schema)).await?;
            Ok((metermaster_store::AnyStore::Postgres(s), Some(schema)))
        }
    }
}

fn psql(url: &str, commands: &[&str]) -> Result<()> {
    let mut cmd = std::process::Command::new("psql");
    cmd.arg(url).arg("-q").arg("-v").arg("ON_ERROR_STOP=1");
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("running psql: {e}"))?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

async fn import_res_bench(files: u32, database: Option<String>, runs: u32) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("mm-bench-res-{}", std::process::id()));
    let src = dir.join("files");
    std::fs::create_dir_all(&src)?;
    // Real readings: simulated meters read over loopback, 1,000 meters at a time, each batch
    // on a later day so that every file brings its own day of profile.
    let per_fleet = files.clamp(1, 1000);
    let mut paths = Vec::with_capacity(files as usize);
    let mut bytes = 0usize;
    let mut k = 0u32;
    let t = Instant::now();
    while k < files {
        let n = per_fleet.min(files - k);
        let mut args = fleet_args(n, ModelArg::A1140, 40_000_001);
        args.speed = 0.0;
        args.history_days = 3;
        let day = chrono::DateTime::parse_from_rfc3339("2024-03-06T00:00:30Z")?
            + chrono::Duration::days(i64::from(k / per_fleet));
        args.start = Some(day.to_rfc3339());
        let addr = start_fleet(&args, ServeOptions::default()).await?;
        let opts = ReadOptions {
            profile_days: 1,
            billing_sets: 0,
            ..ReadOptions::default()
        };
        let res = read_all(
            addr,
            (0..n).map(|i| 40_000_001 + u64::from(i)).collect(),
            opts,
        )
        .await;
        for (serial, r) in res {
            let (reading, _) = r.map_err(|e| anyhow::anyhow!("meter {serial}: {e}"))?;
            let text = metermaster_res::to_res(&reading);
            bytes += text.len();
            let p = src.join(format!("{serial}-{k:05}.res"));
            std::fs::write(&p, text)?;
            paths.push(p);
            k += 1;
        }
    }
    println!(
        "{} .RES files, {:.1} MB, made in {:.1} s",
        paths.len(),
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut singles = Vec::new();
    for run in 0..runs.max(1) {
        // Ours: one `import` of all files (parsed on all cores, written in groups).
        let (store, schema) = bench_store(&dir, &database, run * 2).await?;
        let t = Instant::now();
        let reports = crate::files::import_files(&store, &paths, &Default::default()).await;
        let secs = t.elapsed().as_secs_f64();
        if let Some(e) = reports.iter().find_map(|r| r.error.as_ref()) {
            bail!("import failed: {e}");
        }
        let new: u64 = reports.iter().map(|r| r.readings_new).sum();
        drop(store);
        if let (Some(url), Some(schema)) = (&database, schema) {
            psql(url, &[&format!("DROP SCHEMA {schema} CASCADE")])?;
        }
        // Baseline: the same files one import (one transaction) each.
        let (store, schema) = bench_store(&dir, &database, run * 2 + 1).await?;
        let t = Instant::now();
        for p in &paths {
            let r = crate::files::import_one(&store, p, &Default::default()).await;
            if let Some(e) = r.error {
                bail!("import failed: {e}");
            }
        }
        let single = t.elapsed().as_secs_f64();
        drop(store);
        if let (Some(url), Some(schema)) = (&database, schema) {
            psql(url, &[&format!("DROP SCHEMA {schema} CASCADE")])?;
        }
        println!(
            "run {}: {} files ({new} new readings) in {secs:.3} s = {:.0} files/s; one file per import: {single:.3} s ({:.2} x)",
            run + 1,
            paths.len(),
            paths.len() as f64 / secs,
            single / secs
        );
        times.push(secs);
        singles.push(single);
    }
    println!(
        "import-res: {} files: median {:.3} s; one file per import: median {:.3} s",
        paths.len(),
        median(times.clone()),
        median(singles)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tariff_bench(runs: u32, years: u32, json: bool) -> Result<()> {
    use chrono::Timelike;
    use metermaster_tariff::{Scheme, Source, evaluate};
    let scheme = Scheme::from_toml(include_str!("../../../examples/schemes/economy7.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 =
        chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.with_timezone(&chrono::Utc);
    let n = 365 * 96 * years.max(1) as usize;
    let values: Vec<i64> = (0..n as i64).map(|k| (k * 7919) % 997).collect();
    let mut times = Vec::new();
    let mut check = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let ev = evaluate(&scheme, Source::ImportKwh, t0, 900, &values)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64());
        check = Some(ev.rates.clone());
    }
    // Baseline in the same run: the obvious way, the local time and rate of every interval
    // computed with chrono-tz.
    let zone = match scheme.time_zone {
        Some(metermaster_tariff::Zone::Named(tz)) => tz,
        _ => bail!("the example scheme has no named zone"),
    };
    let t = Instant::now();
    let mut naive = vec![0i128; scheme.rates.len()];
    for (k, v) in values.iter().enumerate() {
        let l = (t0 + chrono::Duration::seconds(900 * k as i64))
            .with_timezone(&zone)
            .naive_local();
        let p = scheme.day_profile_on(l.date()).context("no day profile")?;
        let tod = metermaster_tariff::TimeOfDay::new(l.hour() as u8, l.minute() as u8)
            .context("time of day")?;
        let name = p.rate_at(tod).unwrap_or("");
        let i = scheme
            .rates
            .iter()
            .position(|r| r.name == name)
            .unwrap_or(0);
        naive[i] += i128::from(*v);
    }
    let naive_s = t.elapsed().as_secs_f64();
    if check.as_ref() != Some(&naive) {
        bail!("the evaluation and the per-interval baseline disagree");
    }
    let med = median(times);
    let rate = n as f64 / med;
    // The utility bill of the same kind of year (docs/billing.md), with PySAM's time beside it.
    let bill = crate::bill::bench_bill(runs)?;
    if json {
        let mut v = serde_json::json!({
            "intervals": n,
            "median_seconds": med,
            "intervals_per_second": rate,
            "baseline_per_interval_seconds": naive_s,
            "baseline_intervals_per_second": n as f64 / naive_s,
            "speedup": naive_s / med,
        });
        if let Some(o) = v.as_object_mut() {
            o.extend(bill);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "tariff: {n} intervals (Economy 7, Europe/London, 15 min): median {:.3} ms = {:.1} M intervals/s; per-interval chrono-tz baseline {:.1} ms = {:.2} M/s ({:.0} x)",
            med * 1000.0,
            rate / 1e6,
            naive_s * 1000.0,
            n as f64 / naive_s / 1e6,
            naive_s / med
        );
        println!("{}", crate::bill::bench_line(&bill));
    }
    Ok(())
}
