//! [`collect`]: many meters read concurrently under a limit, one outcome per meter.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{ErrorKind, MasterError, Stage};
use crate::read::{MeterRead, ReadPlan, read_meter};
use crate::target::MeterTarget;

/// How many meters are read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions open at the same time (at least 1).
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { concurrency: 64 }
    }
}

/// What a collection reports as it goes, for a front end to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The session with target `index` starts.
    Started { index: usize, meter: String },
    /// Target `index` is done: read, or failed.
    Finished {
        index: usize,
        meter: String,
        ok: bool,
    },
}

/// The outcome for one target: its reading, or why there is none.
#[derive(Debug)]
pub struct MeterOutcome {
    /// The target's place in the list given to [`collect`].
    pub index: usize,
    /// The target, as [`MeterTarget::name`] names it.
    pub meter: String,
    pub result: Result<MeterRead, MasterError>,
}

/// Reads every target, at most `limits.concurrency` at a time, and returns one outcome per
/// target in the order given. A read that fails, and a task that panics, is an outcome with
/// its error: nothing is dropped. `progress` is called from the reading tasks.
pub async fn collect(
    targets: Vec<(MeterTarget, ReadPlan)>,
    limits: Limits,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Vec<MeterOutcome> {
    let progress = Arc::new(progress);
    let sem = Arc::new(tokio::sync::Semaphore::new(limits.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let mut names: HashMap<tokio::task::Id, (usize, String)> = HashMap::new();
    let n = targets.len();
    for (index, (target, plan)) in targets.into_iter().enumerate() {
        let sem = sem.clone();
        let progress = progress.clone();
        let meter = target.name();
        let handle = set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            progress(Progress::Started {
                index,
                meter: target.name(),
            });
            let result = read_meter(&target, &plan).await;
            progress(Progress::Finished {
                index,
                meter: target.name(),
                ok: result.is_ok(),
            });
            (index, result)
        });
        names.insert(handle.id(), (index, meter));
    }
    let mut out: Vec<Option<MeterOutcome>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next_with_id().await {
        match joined {
            Ok((id, (index, result))) => {
                let meter = names.remove(&id).map(|(_, m)| m).unwrap_or_default();
                out[index] = Some(MeterOutcome {
                    index,
                    meter,
                    result,
                });
            }
            Err(e) => {
                let Some((index, meter)) = names.remove(&e.id()) else {
                    continue;
                };
                let why = if e.is_panic() {
                    "the reading task panicked".to_string()
                } else {
                    "the reading task was cancelled".to_string()
                };
                progress(Progress::Finished {
                    index,
                    meter: meter.clone(),
                    ok: false,
                });
                out[index] = Some(MeterOutcome {
                    index,
                    meter: meter.clone(),
                    result: Err(MasterError::new(
                        meter,
                        Stage::Task,
                        format!("reading: {why}"),
                        ErrorKind::Task(why),
                    )),
                });
            }
        }
    }
    out.into_iter().flatten().collect()
}
