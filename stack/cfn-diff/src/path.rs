//! Where a change is: a path of object keys and array indices inside a resource, parameter,
//! output or template section.

use std::fmt;

use serde::{Serialize, Serializer};

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A location inside a JSON value. Displays as `Properties.Tags[1].Value`; serializes as a JSON
/// Pointer (`/Properties/Tags/1/Value`, RFC 6901), which tools can resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(Vec<Segment>);

impl Path {
    /// The empty path: the value itself.
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, key: &str) -> Path {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Path(segments)
    }

    pub fn index(&self, index: usize) -> Path {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Path(segments)
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as a JSON Pointer: `/Properties/Tags/1/Value`, `~` and `/` escaped.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            out.push('/');
            match segment {
                Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(whole value)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::Value::from(k.as_str()))?,
            }
        }
        Ok(())
    }
}

/// Keys that read unambiguously after a dot; others are shown quoted in brackets.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

impl Serialize for Path {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pointer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_dotted_and_serializes_as_a_pointer() {
        let path = Path::root()
            .key("Properties")
            .key("Tags")
            .index(1)
            .key("Value");
        assert_eq!(path.to_string(), "Properties.Tags[1].Value");
        assert_eq!(path.pointer(), "/Properties/Tags/1/Value");
        let odd = Path::root().key("Condition").key("a/b.c~");
        assert_eq!(odd.to_string(), "Condition[\"a/b.c~\"]");
        assert_eq!(odd.pointer(), "/Condition/a~1b.c~0");
        assert_eq!(Path::root().to_string(), "(whole value)");
    }
}
