//! A secret string (an app password, a generated primary password, a token) that never shows
//! in `Debug` or a log line: a leaf, so that every module holding a secret can name it.

use std::fmt;

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret: from here on it prints as `Secret(***)` in `Debug` and reaches text only
    /// through [`Secret::expose`].
    pub fn new(s: String) -> Self {
        Self(s)
    }
    /// The secret itself: call only where it is hashed, verified, or shown once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Serialised as the plain string: the admin socket and the API's creation answers must carry
/// a new password to its owner once. Serialise a `Secret` only into such an answer, never into
/// a log line.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Self)
    }
}
