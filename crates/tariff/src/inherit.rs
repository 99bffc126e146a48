//! Inheritance: a child scheme or configuration names a `parent` and holds only what it changes.
//!
//! * A key the child gives replaces the parent's value whole (tables such as `max_demand`,
//!   `billing`, `passwords` and `clock` included); a key it leaves out is inherited.
//! * The lists of named entries (`rates`, `day_profiles`, `seasons`, `special_days`) merge by
//!   `name`: a child entry replaces the parent's entry of the same name in place, a new name is
//!   added at the end, and an entry with `remove = true` deletes the parent's. When the child
//!   touches the seasons, the merged seasons are put in order of their start.
//! * The resolved result has no parent and no removals: it stands alone.

use crate::config::MeterConfiguration;
use crate::scheme::{Removed, Scheme};

/// The most generations [`resolve_chain`] follows.
pub const MAX_GENERATIONS: usize = 32;

/// Something that can inherit from a parent of its own kind: a [`Scheme`] or a
/// [`MeterConfiguration`].
pub trait Inherit: Sized {
    /// The kind, for messages: `scheme`.
    const KIND: &'static str;

    /// The identifier.
    fn id(&self) -> &str;

    /// The parent's identifier, if any.
    fn parent_id(&self) -> Option<&str>;

    /// The child merged onto the parent; see the [module docs](self).
    fn merge(child: &Self, parent: &Self) -> Self;
}

/// Why an inheritance chain cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InheritError {
    /// The starting id is not known.
    #[error("unknown {kind} {id:?}")]
    NotFound {
        /// `scheme` or `meter configuration`.
        kind: &'static str,
        /// The id looked up.
        id: String,
    },
    /// A parent is not known.
    #[error("{kind} {child:?} inherits from {parent:?}, which is not known")]
    UnknownParent {
        /// `scheme` or `meter configuration`.
        kind: &'static str,
        /// The child naming the parent.
        child: String,
        /// The unknown parent.
        parent: String,
    },
    /// The parents lead back to a scheme already in the chain.
    #[error("{kind} inheritance cycle: {}", .cycle.join(" → "))]
    Cycle {
        /// `scheme` or `meter configuration`.
        kind: &'static str,
        /// The ids around the cycle, the first repeated at the end: `a`, `b`, `a`.
        cycle: Vec<String>,
    },
    /// More than [`MAX_GENERATIONS`] generations.
    #[error("{kind} {id:?} has more than {MAX_GENERATIONS} generations of parents")]
    TooDeep {
        /// `scheme` or `meter configuration`.
        kind: &'static str,
        /// The starting id.
        id: String,
    },
}

/// The child merged onto its parent: the child's keys override, named list entries merge by
/// name (see the [module docs](self)). The result has no parent.
pub fn resolve<T: Inherit>(child: &T, parent: &T) -> T {
    T::merge(child, parent)
}

/// The scheme or configuration `id` with all its ancestors merged in, looking each up with
/// `lookup`; an unknown id or parent, a cycle (`a → b → a`) or a chain deeper than
/// [`MAX_GENERATIONS`] is an error.
pub fn resolve_chain<T: Inherit>(
    id: &str,
    lookup: impl Fn(&str) -> Option<T>,
) -> Result<T, InheritError> {
    let first = lookup(id).ok_or_else(|| InheritError::NotFound {
        kind: T::KIND,
        id: id.to_string(),
    })?;
    let mut chain: Vec<(String, T)> = vec![(id.to_string(), first)];
    while let Some((child_id, child)) = chain.last() {
        let Some(parent_id) = child.parent_id() else {
            break;
        };
        if let Some(pos) = chain.iter().position(|(k, _)| k == parent_id) {
            let mut cycle: Vec<String> = chain.iter().skip(pos).map(|(k, _)| k.clone()).collect();
            cycle.push(parent_id.to_string());
            return Err(InheritError::Cycle {
                kind: T::KIND,
                cycle,
            });
        }
        if chain.len() > MAX_GENERATIONS {
            return Err(InheritError::TooDeep {
                kind: T::KIND,
                id: id.to_string(),
            });
        }
        let parent = lookup(parent_id).ok_or_else(|| InheritError::UnknownParent {
            kind: T::KIND,
            child: child_id.clone(),
            parent: parent_id.to_string(),
        })?;
        chain.push((parent_id.to_string(), parent));
    }
    let mut generations = chain.into_iter().rev().map(|(_, t)| t);
    let root = generations.next().ok_or_else(|| InheritError::NotFound {
        kind: T::KIND,
        id: id.to_string(),
    })?;
    let mut resolved = root;
    for child in generations {
        resolved = T::merge(&child, &resolved);
    }
    Ok(resolved)
}

/// The parent's entries minus the removed ones, with the child's merged in by name.
fn merge_named<T: Clone>(
    parent: &[T],
    child: &[T],
    removed: &[String],
    name: impl Fn(&T) -> &str,
) -> Vec<T> {
    let mut out: Vec<T> = parent
        .iter()
        .filter(|p| !removed.iter().any(|r| r == name(p)))
        .cloned()
        .collect();
    for c in child {
        match out.iter_mut().find(|o| name(o) == name(c)) {
            Some(slot) => *slot = c.clone(),
            None => out.push(c.clone()),
        }
    }
    out
}

impl Inherit for Scheme {
    const KIND: &'static str = "scheme";

    fn id(&self) -> &str {
        &self.id
    }

    fn parent_id(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    fn merge(child: &Scheme, parent: &Scheme) -> Scheme {
        let removed = &child.removed;
        let mut seasons = merge_named(&parent.seasons, &child.seasons, &removed.seasons, |s| {
            &s.name
        });
        if !child.seasons.is_empty() || !removed.seasons.is_empty() {
            seasons.sort_by_key(|s| s.start);
        }
        Scheme {
            id: child.id.clone(),
            name: child.name.clone(),
            description: child
                .description
                .clone()
                .or_else(|| parent.description.clone()),
            parent: None,
            time_zone: child.time_zone.or(parent.time_zone),
            dst: child.dst.or(parent.dst),
            rates: merge_named(&parent.rates, &child.rates, &removed.rates, |r| &r.name),
            day_profiles: merge_named(
                &parent.day_profiles,
                &child.day_profiles,
                &removed.day_profiles,
                |p| &p.name,
            ),
            seasons,
            special_days: merge_named(
                &parent.special_days,
                &child.special_days,
                &removed.special_days,
                |d| &d.name,
            ),
            max_demand: child
                .max_demand
                .clone()
                .or_else(|| parent.max_demand.clone()),
            billing: child.billing.clone().or_else(|| parent.billing.clone()),
            load_profile: child
                .load_profile
                .clone()
                .or_else(|| parent.load_profile.clone()),
            display: child.display.clone().or_else(|| parent.display.clone()),
            removed: Removed::default(),
        }
    }
}

impl Inherit for MeterConfiguration {
    const KIND: &'static str = "meter configuration";

    fn id(&self) -> &str {
        &self.id
    }

    fn parent_id(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    fn merge(child: &MeterConfiguration, parent: &MeterConfiguration) -> MeterConfiguration {
        MeterConfiguration {
            id: child.id.clone(),
            name: child.name.clone(),
            description: child
                .description
                .clone()
                .or_else(|| parent.description.clone()),
            parent: None,
            meter_type: child.meter_type.or(parent.meter_type),
            scheme: child.scheme.clone().or_else(|| parent.scheme.clone()),
            ct_ratio: child.ct_ratio.or(parent.ct_ratio),
            vt_ratio: child.vt_ratio.or(parent.vt_ratio),
            passwords: child.passwords.clone().or_else(|| parent.passwords.clone()),
            clock: child.clock.clone().or_else(|| parent.clock.clone()),
        }
    }
}
