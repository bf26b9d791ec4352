//! The field rules the inventory shapes share: required strings that must not be empty,
//! required fields that may be null, and Nova's `""` for "none".

use compact_str::CompactString;
use serde::{Deserialize, Deserializer};

/// A string that must not be empty: an empty uuid, name or host names no instance.
pub(super) fn non_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<CompactString, D::Error> {
    let text = CompactString::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(""),
            &"a non-empty string",
        ));
    }
    Ok(text)
}

/// A field that must be there, and may be null (an `Option` field alone may be left out).
pub(super) fn nullable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<CompactString>, D::Error> {
    Option::<CompactString>::deserialize(deserializer)
}

/// `None` for an empty string, which Nova's API gives for "none".
pub(super) fn without_empty(text: Option<CompactString>) -> Option<CompactString> {
    text.filter(|text| !text.is_empty())
}
