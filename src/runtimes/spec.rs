//! Python versions as content and the API name them: a runtime id is a minor version
//! (`3.14`), and a version spec is a union of minors (`3.13`, `3.13+`, `3.11-3.12`,
//! `3.11,3.13+`), see docs/authoring.md.

use std::fmt;
use std::str::FromStr;

/// A minor Python version, e.g. `3.14`: the id of a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    pub major: u8,
    pub minor: u8,
}

impl Minor {
    pub const fn new(major: u8, minor: u8) -> Self {
        Minor { major, minor }
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Minor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a Python version such as 3.14");
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        let num = |t: &str| {
            (!t.is_empty() && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u8>().ok())
                .flatten()
        };
        match (num(major), num(minor)) {
            (Some(major), Some(minor)) => Ok(Minor { major, minor }),
            _ => Err(bad()),
        }
    }
}

/// One inclusive range of minors; `to: None` is open-ended (`3.13+`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: Minor,
    to: Option<Minor>,
}

/// A set of Python versions: `3.13`, `3.13+`, `3.11-3.12`, or a comma-separated union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpec {
    ranges: Vec<Range>,
}

impl VersionSpec {
    pub fn matches(&self, v: Minor) -> bool {
        self.ranges
            .iter()
            .any(|r| r.from <= v && r.to.is_none_or(|to| v <= to))
    }

    /// Some version is in both sets.
    pub fn overlaps(&self, other: &VersionSpec) -> bool {
        self.ranges.iter().any(|a| {
            other.ranges.iter().any(|b| {
                let lo = a.from.max(b.from);
                match (a.to, b.to) {
                    (None, None) => true,
                    (Some(t), None) | (None, Some(t)) => lo <= t,
                    (Some(x), Some(y)) => lo <= x.min(y),
                }
            })
        })
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r.to {
                None => write!(f, "{}+", r.from)?,
                Some(to) if to == r.from => write!(f, "{to}")?,
                Some(to) => write!(f, "{}-{to}", r.from)?,
            }
        }
        Ok(())
    }
}

impl FromStr for VersionSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let range = if let Some(from) = part.strip_suffix('+') {
                Range {
                    from: from.parse()?,
                    to: None,
                }
            } else if let Some((a, b)) = part.split_once('-') {
                let (from, to): (Minor, Minor) = (a.parse()?, b.parse()?);
                if to < from {
                    return Err(format!("`{part}`: the range ends before it starts"));
                }
                Range { from, to: Some(to) }
            } else {
                let v: Minor = part.parse()?;
                Range {
                    from: v,
                    to: Some(v),
                }
            };
            ranges.push(range);
        }
        Ok(VersionSpec { ranges })
    }
}

/// Does this fence word look like a version spec (so a typo is an error, not a flag)?
pub fn looks_like_spec(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> VersionSpec {
        s.parse().expect(s)
    }
    const V11: Minor = Minor::new(3, 11);
    const V12: Minor = Minor::new(3, 12);
    const V13: Minor = Minor::new(3, 13);
    const V15: Minor = Minor::new(3, 15);

    #[test]
    fn specs_parse_match_and_print() {
        assert!(spec("3.13").matches(V13) && !spec("3.13").matches(V12));
        assert!(spec("3.13+").matches(V15) && !spec("3.13+").matches(V12));
        let r = spec("3.11-3.12");
        assert!(r.matches(V11) && r.matches(V12) && !r.matches(V13));
        let u = spec("3.11, 3.13+");
        assert!(u.matches(V11) && !u.matches(V12) && u.matches(V15));
        assert_eq!(u.to_string(), "3.11,3.13+");
        assert_eq!(spec("3.12-3.12").to_string(), "3.12");
        for bad in ["", "3", "3.x", "3.13-3.11", "three", "3.13++", "3.1000"] {
            assert!(bad.parse::<VersionSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlaps_are_found() {
        assert!(spec("3.11-3.13").overlaps(&spec("3.13+")));
        assert!(!spec("3.11-3.12").overlaps(&spec("3.13+")));
        assert!(spec("3.13+").overlaps(&spec("3.15+")));
        assert!(spec("3.15").overlaps(&spec("3.11,3.14+")));
        assert!(!spec("3.12").overlaps(&spec("3.11,3.13+")));
    }
}
