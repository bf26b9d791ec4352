//! The field rules the inventory shapes share: required strings that must not be empty,
//! required fields that may be null, and Nova's `""` for "none".

use serde::{Deserialize, Deserializer};

/// A string that must not be empty: an empty uuid, name or host names no instance.
pub(super) fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
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
) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)
}

/// `None` for an empty string, which Nova's API gives for "none".
pub(super) fn without_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}
