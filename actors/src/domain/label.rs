use super::InvalidValue;
use serde::{Deserialize, Serialize};

/// Declares a short, lower-case identifier type used in URLs and filters.
macro_rules! label {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $extra:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some(concat!("^[a-z0-9", $extra, "]+$")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let value = raw.trim().to_lowercase();
                let ok = !value.is_empty()
                    && value.len() <= $max
                    && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || $extra.contains(c));
                if ok {
                    Ok(Self(value))
                } else {
                    Err(InvalidValue(format!(
                        concat!("'{}' is not ", $what, ": use 1 to ", $max, " lower-case letters, digits or '", $extra, "'"),
                        raw.trim()
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

label!(
    /// A tag on conversations and contacts (`vip`, `billing-issue`).
    TagName, "a tag", 40, "-_"
);

label!(
    /// Which channel a conversation runs on: `<kind>:<name>`, such as
    /// `sandbox:demo`. The customer's identity is scoped by it.
    ChannelKey, "a channel", 80, "-_:."
);

impl ChannelKey {
    /// The sandbox channel called `name`, which plays customer messages locally.
    pub fn sandbox(name: &str) -> Result<Self, InvalidValue> {
        let name = SandboxName::parse(name)?;
        Self::parse(&format!("sandbox:{name}"))
    }

    /// The key of a connected channel: a kind word and a UUID, which always form a
    /// valid key.
    pub(crate) fn connected(kind: &'static str, id: uuid::Uuid) -> Self {
        Self(format!("{kind}:{id}"))
    }

    pub fn is_sandbox(&self) -> bool {
        self.0.starts_with("sandbox:")
    }
}

label!(
    /// The name part of a sandbox channel.
    SandboxName, "a sandbox channel name", 40, "-_"
);
