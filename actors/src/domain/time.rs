//! Wall-clock instants as UTC Unix milliseconds.
//!
//! Both SQL dialects store them as BIGINT, so one query text serves both stores and
//! comparisons are numeric rather than string comparisons of formatted dates.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// RFC 3339 text for API responses.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// The UTC calendar month it falls in, as `YYYY-MM`: what monthly counts key on.
    pub fn month(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(|t| format!("{:04}-{:02}", t.year(), u8::from(t.month())))
            .unwrap_or_default()
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }
}

/// `Option<Millis>` as RFC 3339 text in JSON (`#[serde(with = "rfc3339_option")]`).
pub mod rfc3339_option {
    use super::Millis;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<Millis>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&at.to_rfc3339()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Millis>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => Millis::parse_rfc3339(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("'{text}' is not an RFC 3339 time"))
            }),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_format_as_utc_rfc3339() {
        assert_eq!(
            Millis(1_614_265_330_000).to_rfc3339(),
            "2021-02-25T15:02:10Z"
        );
        assert_eq!(
            Millis(1_614_265_330_123).to_rfc3339(),
            "2021-02-25T15:02:10.123Z"
        );
    }

    #[test]
    fn the_month_is_the_utc_calendar_month() {
        // 2026-11-30T23:59:59.999Z and one millisecond later.
        assert_eq!(Millis(1_796_083_199_999).month(), "2026-11");
        assert_eq!(Millis(1_796_083_200_000).month(), "2026-12");
        assert_eq!(Millis(0).month(), "1970-01");
    }
}
