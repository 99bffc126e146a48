//! Errors of scheme and configuration files, and finding the line a key path points at.

use std::fmt;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use crate::Violation;

/// One problem in a file: where it is (line, key path) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line in the file, when known.
    pub line: Option<usize>,
    /// The key path, list entries counting from 0 (`seasons[1].week.saturday`); empty for the
    /// whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a scheme or meter configuration file was refused: every problem found, each naming its
/// line and key path, such as
/// `line 12: seasons[1].week.saturday: unknown day profile "peek"`.
///
/// TOML syntax errors and structural errors (a wrong type, an unknown or missing key, a bad time
/// or date) stop the reading at the first one; the consistency checks that follow report all
/// their errors at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeError {
    /// The problems, at least one.
    pub problems: Vec<Problem>,
}

impl SchemeError {
    /// An error without a place.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        SchemeError {
            problems: vec![Problem {
                line: None,
                path: String::new(),
                message: message.into(),
            }],
        }
    }

    /// Errors from violations, placed in `text` when it is given.
    pub(crate) fn from_violations<'a>(
        violations: impl IntoIterator<Item = &'a Violation>,
        text: Option<&str>,
    ) -> Self {
        let locator = text.and_then(Locator::new);
        SchemeError {
            problems: violations
                .into_iter()
                .map(|v| Problem {
                    line: locator.as_ref().and_then(|l| l.line(&v.path)),
                    path: v.path.clone(),
                    message: v.message.clone(),
                })
                .collect(),
        }
    }
}

impl fmt::Display for SchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemeError {}

/// The 1-based line of byte offset `at` in `text`.
fn line_at(text: &str, at: usize) -> usize {
    text.bytes().take(at).filter(|b| *b == b'\n').count() + 1
}

/// Reads TOML into `T`, naming the line and the key path of the first error.
pub(crate) fn read_toml<T: DeserializeOwned>(text: &str) -> Result<T, SchemeError> {
    let located = |span: Option<std::ops::Range<usize>>, path: String, message: &str| {
        let mut path = path;
        let mut message = message.trim_end().to_string();
        // `missing field `x`` names the key in the message; put it in the path instead.
        if let Some(key) = message
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            path = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            message = "missing (this key is required)".to_string();
        }
        SchemeError {
            problems: vec![Problem {
                line: span.map(|s| line_at(text, s.start)),
                path,
                message,
            }],
        }
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| located(e.span(), String::new(), e.message()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        located(e.inner().span(), path, e.inner().message())
    })
}

/// The 1-based line that a key path (`seasons[1].week.saturday`, list entries counting from 0)
/// points at in a TOML text, or `None` when the text does not parse or the path (or any part of
/// it) is not in it. When only the start of the path is in the text, the line is that of the
/// longest part that is, so a message about a missing key points at its table.
///
/// Use it to place the [`Violation`]s of [`validate`](crate::validate) in the file they came
/// from.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    Locator::new(text)?.line(path)
}

/// A parsed TOML text, for finding the lines of key paths.
pub(crate) struct Locator<'t> {
    text: &'t str,
    root: DeValue<'t>,
}

/// One step of a key path.
#[derive(Debug, PartialEq)]
enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

/// The steps of `seasons[1].week.saturday`, or `None` when the path is malformed.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (part.get(..i)?, part.get(i..)?),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (index, after) = r.split_once(']')?;
            out.push(Step::Index(index.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

impl<'t> Locator<'t> {
    pub(crate) fn new(text: &'t str) -> Option<Self> {
        let root: DeTable<'t> = DeTable::parse(text).ok()?.into_inner();
        Some(Locator {
            text,
            root: DeValue::Table(root),
        })
    }

    pub(crate) fn line(&self, path: &str) -> Option<usize> {
        let mut value = &self.root;
        let mut found = None;
        for step in steps(path)? {
            let next = match step {
                Step::Key(k) => value.get(k),
                Step::Index(i) => value.get(i),
            };
            match next {
                Some(v) => {
                    found = Some(v.span());
                    value = v.get_ref();
                }
                None => break,
            }
        }
        found.map(|span| line_at(self.text, span.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "id = \"x\"\n\n[[seasons]]\nname = \"a\"\nweek = { monday = \"wd\" }\n\n[[seasons]]\nname = \"b\"\n\n[seasons.week]\nmonday = \"wd\"\n";

    #[test]
    fn paths_find_their_lines() {
        assert_eq!(line_of(TEXT, "id"), Some(1));
        assert_eq!(line_of(TEXT, "seasons[0]"), Some(3));
        assert_eq!(line_of(TEXT, "seasons[0].week.monday"), Some(5));
        assert_eq!(line_of(TEXT, "seasons[1].name"), Some(8));
        assert_eq!(line_of(TEXT, "seasons[1].week.monday"), Some(11));
        // A key that is not there points at its table.
        assert_eq!(line_of(TEXT, "seasons[1].week.sunday"), Some(10));
        assert_eq!(line_of(TEXT, "nothing"), None);
        assert_eq!(line_of(TEXT, "seasons[x]"), None);
        assert_eq!(line_of("= broken", "id"), None);
    }

    #[test]
    fn path_steps() {
        assert_eq!(
            steps("a[1][2].b").unwrap(),
            vec![
                Step::Key("a"),
                Step::Index(1),
                Step::Index(2),
                Step::Key("b")
            ]
        );
        assert!(steps("a[1]x").is_none());
        assert!(steps("a[").is_none());
    }
}
